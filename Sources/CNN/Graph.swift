/// A named node of a graph: an operator applied to the outputs of earlier nodes.
public struct Node {
    public let name: String
    public let op: Operator
    public let inputs: [String]

    public init(name: String, op: Operator, inputs: [String]) {
        self.name = name
        self.op = op
        self.inputs = inputs
    }
}

/// A model as a DAG of named nodes with one image input and one output.
///
/// Nodes are kept in topological order; the input's shape excludes the batch dimension,
/// which stays free so the same graph serves batch 1 inference and batched training.
public final class Graph: @unchecked Sendable {
    public let name: String
    public let inputName: String
    public let inputShape: [Int]
    public let nodes: [Node]
    public let outputName: String

    public init(name: String, inputName: String = "input", inputShape: [Int], nodes: [Node],
                outputName: String? = nil) throws {
        self.name = name
        self.inputName = inputName
        self.inputShape = inputShape
        self.nodes = try Graph.sortedTopologically(nodes, input: inputName)
        guard let last = self.nodes.last?.name ?? Optional(inputName) else { throw GraphError(node: name, "empty graph") }
        let output = outputName ?? last
        guard output == inputName || self.nodes.contains(where: { $0.name == output }) else {
            throw GraphError(node: output, "the output names no node")
        }
        self.outputName = output
        _ = try shapes(batch: 1)
    }

    /// Every node output's shape, batch dimension first, keyed by node name.
    public func shapes(batch: Int) throws -> [String: [Int]] {
        var shapes = [inputName: [batch] + inputShape]
        for node in nodes {
            let inputShapes = node.inputs.map { shapes[$0]! }
            do {
                shapes[node.name] = try node.op.outputShape(for: inputShapes)
            } catch let error as ShapeError {
                throw GraphError(node: node.name, "\(node.op.kind): \(error.reason)")
            }
        }
        return shapes
    }

    /// Every Parameter once, in node order, though several nodes may share one (the ONNX importer
    /// gives nodes that read the same initializer the same Parameter): an optimizer stepping a
    /// shared tensor once per node would move it twice as far.
    public var parameters: [Parameter] { Graph.unique(nodes.flatMap { $0.op.parameters }) }
    public var buffers: [Parameter] { Graph.unique(nodes.flatMap { $0.op.buffers }) }

    static func unique(_ parameters: [Parameter]) -> [Parameter] {
        var seen = Set<ObjectIdentifier>()
        return parameters.filter { seen.insert(ObjectIdentifier($0)).inserted }
    }

    public func node(named name: String) -> Node? { nodes.first { $0.name == name } }

    /// How many nodes read each node's output (the graph output counts as a reader).
    func readerCounts() -> [String: Int] {
        var counts = [outputName: 1]
        for node in nodes {
            for input in node.inputs { counts[input, default: 0] += 1 }
        }
        return counts
    }

    private static func sortedTopologically(_ nodes: [Node], input: String) throws -> [Node] {
        var byName: [String: Node] = [:]
        for node in nodes {
            guard node.name != input, byName[node.name] == nil else {
                throw GraphError(node: node.name, "the name is used twice")
            }
            byName[node.name] = node
        }
        var placed: Set<String> = [input]
        var visiting: Set<String> = []
        var order: [Node] = []
        func visit(_ node: Node) throws {
            if placed.contains(node.name) { return }
            guard visiting.insert(node.name).inserted else {
                throw GraphError(node: node.name, "the graph has a cycle through this node")
            }
            for name in node.inputs where !placed.contains(name) {
                guard let producer = byName[name] else {
                    throw GraphError(node: node.name, "input '\(name)' names no node")
                }
                try visit(producer)
            }
            visiting.remove(node.name)
            placed.insert(node.name)
            order.append(node)
        }
        for node in nodes { try visit(node) }
        return order
    }
}
