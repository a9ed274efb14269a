import Foundation

/// Softmax cross-entropy on logits [N, classes] against integer labels: the mean loss over
/// the batch and its gradient with respect to the logits, (softmax - target) / N. The target is
/// the one-hot label, or with `labelSmoothing` ε PyTorch's smoothed one, (1 - ε) onehot + ε / classes,
/// so that a few training images cannot drive the logits apart without bound.
public func softmaxCrossEntropy(logits: Tensor, labels: [Int], labelSmoothing: Float = 0) -> (loss: Float, gradient: Tensor) {
    let (n, classes) = (logits.shape[0], logits.shape[1])
    precondition(labels.count == n, "\(labels.count) labels for a batch of \(n)")
    var gradient = Tensor(zeros: logits.shape)
    var total: Double = 0
    for s in 0..<n {
        let row = logits.scalars[(s * classes)..<((s + 1) * classes)]
        let m = row.max()!
        let sum = row.reduce(Float(0)) { $0 + exp($1 - m) }
        let logSum = log(sum) + m
        for c in 0..<classes {
            let target = (c == labels[s] ? 1 - labelSmoothing : 0) + labelSmoothing / Float(classes)
            let p = exp(row[s * classes + c] - logSum)
            if target != 0 { total += Double(target * (logSum - row[s * classes + c])) }
            gradient.scalars[s * classes + c] = (p - target) / Float(n)
        }
    }
    return (Float(total / Double(n)), gradient)
}
