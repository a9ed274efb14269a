import Foundation

/// Softmax cross-entropy on logits [N, classes] against integer labels: the mean loss over
/// the batch and its gradient with respect to the logits, (softmax - onehot) / N.
public func softmaxCrossEntropy(logits: Tensor, labels: [Int]) -> (loss: Float, gradient: Tensor) {
    let (n, classes) = (logits.shape[0], logits.shape[1])
    precondition(labels.count == n, "\(labels.count) labels for a batch of \(n)")
    var gradient = Tensor(zeros: logits.shape)
    var total: Double = 0
    for s in 0..<n {
        let row = logits.scalars[(s * classes)..<((s + 1) * classes)]
        let m = row.max()!
        let sum = row.reduce(Float(0)) { $0 + exp($1 - m) }
        let logSum = log(sum) + m
        total += Double(logSum - row[s * classes + labels[s]])
        for c in 0..<classes {
            let p = exp(row[s * classes + c] - logSum)
            gradient.scalars[s * classes + c] = (p - (c == labels[s] ? 1 : 0)) / Float(n)
        }
    }
    return (Float(total / Double(n)), gradient)
}
