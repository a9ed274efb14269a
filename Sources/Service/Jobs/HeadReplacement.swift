import CNN

/// Transfer learning's graph surgery: the final scoring Dense layer is replaced by a freshly
/// initialized one with one output per new class.
///
/// Works on any Graph, native or imported, whose last parameterized node is a Dense layer
/// (nodes after it, such as softmax or dropout, are kept).
public enum HeadReplacement {
    public struct Result {
        public let graph: Graph
        /// The replaced node's name.
        public let head: String
        /// The body's parameterized nodes in order, split into contiguous layer groups.
        public let bodyGroups: [[String]]
    }

    public static func replacingHead(of graph: Graph, classes: Int, groups: Int = 3, seed: UInt64) throws -> Result {
        guard classes >= 2 else { throw GraphError(node: graph.name, "a classifier needs at least two classes") }
        let parameterized = graph.nodes.filter { !$0.op.parameters.isEmpty }
        guard let last = parameterized.last, let dense = last.op as? Dense else {
            throw GraphError(node: graph.name, "the last layer with weights is not a dense layer, so there is no head to replace")
        }
        var random = RandomSource(seed: seed)
        let fanIn = dense.inFeatures
        let bound = (6 / Float(fanIn)).squareRoot()
        let weight = Parameter(name: dense.weight.name, value: Tensor(
            shape: [classes, fanIn], scalars: (0..<(classes * fanIn)).map { _ in (2 * random.nextUniform() - 1) * bound }))
        let biasBound = 1 / Float(fanIn).squareRoot()
        let bias = Parameter(name: dense.bias?.name ?? "\(last.name).bias", value: Tensor(
            shape: [classes], scalars: (0..<classes).map { _ in (2 * random.nextUniform() - 1) * biasBound }))
        let head = Node(name: last.name, op: Dense(weight: weight, bias: bias, activation: dense.activation,
                                                         appliesToLastAxis: dense.appliesToLastAxis), inputs: last.inputs)
        let nodes = graph.nodes.map { $0.name == last.name ? head : $0 }
        let replaced = try Graph(name: graph.name, inputName: graph.inputName, inputShape: graph.inputShape, nodes: nodes,
                                 outputName: graph.outputName)
        let body = parameterized.dropLast().map(\.name)
        let k = min(groups, body.count)
        let bodyGroups = (0..<k).map { i in Array(body[(i * body.count / k)..<((i + 1) * body.count / k)]) }
        return Result(graph: replaced, head: last.name, bodyGroups: bodyGroups)
    }
}

extension Architecture {
    /// The same architecture with the named dense layer resized to `units` outputs, always with a bias.
    func replacingHead(_ head: String, units: Int) throws -> Architecture {
        guard let index = layerNames.firstIndex(of: head), layers[index].type == "dense" else {
            throw GraphError(node: head, "the architecture has no dense layer by this name")
        }
        var copy = self
        copy.layers[index].units = units
        copy.layers[index].useBias = true
        return copy
    }
}
