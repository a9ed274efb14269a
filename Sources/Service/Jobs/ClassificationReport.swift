import CNN

/// A confusion matrix (rows: true class, columns: predicted) and per-class precision and recall.
public struct ClassificationReport: Sendable {
    public let confusionMatrix: [[Int]]
    public let perClass: [ClassMetrics]

    public init(labels: [String], truth: [Int], predictions: [Int]) {
        var matrix = Array(repeating: Array(repeating: 0, count: labels.count), count: labels.count)
        for (t, p) in zip(truth, predictions) { matrix[t][p] += 1 }
        confusionMatrix = matrix
        perClass = labels.indices.map { c in
            let predicted = matrix.reduce(0) { $0 + $1[c] }
            let actual = matrix[c].reduce(0, +)
            return ClassMetrics(label: labels[c], precision: predicted == 0 ? 0 : Float(matrix[c][c]) / Float(predicted),
                                recall: actual == 0 ? 0 : Float(matrix[c][c]) / Float(actual))
        }
    }
}
