/// The classes a saliency computation explains: each gets its own map from the same forward passes.
public enum SaliencyTargets: Sendable, Equatable {
    /// The `count` highest-scoring classes of the input, highest first (fewer when the model has fewer).
    case top(Int)
    /// These classes, in this order.
    case classes([Int])

    /// The class indices for an input whose scores are `logits`; `node` names the scores in an error.
    public func resolve(_ logits: [Float], node: String) throws -> [Int] {
        switch self {
        case let .top(count):
            // Ties by index, so that the order is reproducible.
            let ranked = logits.indices.sorted { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }
            return Array(ranked.prefix(max(count, 1)))
        case let .classes(indices):
            for index in indices where !logits.indices.contains(index) {
                throw GraphError(node: node, "class \(index) is out of range for \(logits.count) classes")
            }
            return indices
        }
    }
}
