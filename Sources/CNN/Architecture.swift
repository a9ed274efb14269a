import Foundation

/// The JSON architecture format for native models: an input and a list of layers,
/// sequential by default; a layer's `name` and `inputs` make a DAG.
///
///     {"name": "c", "input": {"channels": 3, "height": 32, "width": 32},
///      "layers": [{"type": "conv2d", "filters": 8, "kernel": 3, "padding": "same", "activation": "relu"},
///                 {"type": "flatten"}, {"type": "dense", "units": 4}]}
public struct Architecture: Codable, Equatable, Sendable {
    public struct Input: Codable, Equatable, Sendable {
        public var channels: Int
        public var height: Int
        public var width: Int

        public init(channels: Int, height: Int, width: Int) {
            self.channels = channels
            self.height = height
            self.width = width
        }
    }

    public var name: String
    public var input: Input
    public var layers: [LayerSpec]

    public init(name: String, input: Input, layers: [LayerSpec]) {
        self.name = name
        self.input = input
        self.layers = layers
    }

    public init(json: Data) throws {
        do {
            self = try JSONDecoder().decode(Architecture.self, from: json)
        } catch let error as DecodingError {
            throw ArchitectureError(describing: error)
        }
    }

    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// The layer names after defaults: a layer without a name is `<type><index>`, index from 1.
    public var layerNames: [String] {
        layers.enumerated().map { $1.name ?? "\($1.type)\($0 + 1)" }
    }

    /// Builds the graph with freshly initialized weights (He-uniform, as PyTorch's default
    /// for ReLU networks), reproducible from `seed`.
    public func makeGraph(seed: UInt64 = 0) throws -> Graph {
        var random = RandomSource(seed: seed)
        let names = layerNames
        var shapes = ["input": [1, input.channels, input.height, input.width]]
        var nodes: [Node] = []
        var previous = "input"
        for (index, spec) in layers.enumerated() {
            let name = names[index]
            let inputs = spec.inputs ?? [previous]
            guard let inputShapes = Optional(inputs.compactMap { shapes[$0] }), inputShapes.count == inputs.count else {
                let missing = inputs.first { shapes[$0] == nil } ?? "?"
                throw GraphError(node: name, "input '\(missing)' is not an earlier layer")
            }
            let op = try spec.makeOperator(name: name, inputShapes: inputShapes, random: &random)
            do {
                shapes[name] = try op.outputShape(for: inputShapes)
            } catch let error as ShapeError {
                throw GraphError(node: name, "\(spec.type): \(error.reason)")
            }
            nodes.append(Node(name: name, op: op, inputs: inputs))
            previous = name
        }
        return try Graph(name: name, inputShape: [input.channels, input.height, input.width], nodes: nodes,
                         outputName: previous)
    }
}

public struct ArchitectureError: Error, CustomStringConvertible {
    public let description: String

    init(describing error: DecodingError) {
        switch error {
        case let .keyNotFound(key, context):
            description = "missing key '\(key.stringValue)' at \(ArchitectureError.path(context.codingPath))"
        case let .typeMismatch(_, context), let .valueNotFound(_, context), let .dataCorrupted(context):
            description = "\(context.debugDescription) at \(ArchitectureError.path(context.codingPath))"
        @unknown default:
            description = "\(error)"
        }
    }

    private static func path(_ keys: [CodingKey]) -> String {
        keys.isEmpty ? "the top level" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}
