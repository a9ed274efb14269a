import Foundation

/// What travels with a model's weights: how to rebuild it, what its outputs mean, how to feed
/// it, where it came from and how well it did.
public struct ModelCard: Codable, Sendable {
    public var name: String
    /// The native architecture; nil for a model kept as an ONNX graph.
    public var architecture: Architecture?
    /// The ONNX file of a model imported from ONNX, relative to the model's folder.
    public var onnxFile: String?
    public var labels: [String]
    /// Interpreted by Imaging: resizing, cropping, normalization.
    public var preprocessing: JSONValue?
    public var provenance: [String: JSONValue]
    public var metrics: [String: Double]
    /// SHA-256 of the weights file, hex; the registry refuses a model whose weights differ.
    public var weightsSHA256: String?
    public var created: Date?

    enum CodingKeys: String, CodingKey {
        case name, architecture, labels, preprocessing, provenance, metrics, created
        case onnxFile = "onnx_file", weightsSHA256 = "weights_sha256"
    }

    public init(name: String, architecture: Architecture?, onnxFile: String? = nil, labels: [String],
                preprocessing: JSONValue? = nil, provenance: [String: JSONValue] = [:],
                metrics: [String: Double] = [:], weightsSHA256: String? = nil, created: Date? = nil) {
        self.name = name
        self.architecture = architecture
        self.onnxFile = onnxFile
        self.labels = labels
        self.preprocessing = preprocessing
        self.provenance = provenance
        self.metrics = metrics
        self.weightsSHA256 = weightsSHA256
        self.created = created
    }

    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(self)
    }

    public init(json: Data) throws {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        self = try decoder.decode(ModelCard.self, from: json)
    }
}

extension Graph {
    /// Every parameter and buffer by name, as checkpoints store them.
    public var namedTensors: [String: Tensor] {
        Dictionary((parameters + buffers).map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
    }

    /// Loads weights by name. Every parameter and buffer must be present with its shape.
    public func load(_ tensors: [String: Tensor]) throws {
        for p in parameters + buffers {
            guard let t = tensors[p.name] else { throw GraphError(node: p.name, "missing from the weights") }
            guard t.shape == p.value.shape else {
                throw GraphError(node: p.name, "weights have shape \(t.shape), the model needs \(p.value.shape)")
            }
            p.value = t
        }
    }
}

/// A native model on disk: `card.json` and `weights.safetensors` in one folder.
public struct Checkpoint {
    public static let cardFile = "card.json"
    public static let weightsFile = "weights.safetensors"

    /// Writes weights first, then the card, each atomically; the card names the weights'
    /// checksum, so a card never describes weights that are not fully written.
    public static func save(graph: Graph, card: ModelCard, to directory: URL,
                            checksum: (Data) -> String? = { _ in nil }) throws {
        let weights = try Safetensors.encode(graph.namedTensors)
        try AtomicFile.write(weights, to: directory.appendingPathComponent(weightsFile))
        var card = card
        card.weightsSHA256 = checksum(weights) ?? card.weightsSHA256
        try AtomicFile.write(card.jsonData(), to: directory.appendingPathComponent(cardFile))
    }

    /// The card, and the native graph with its weights loaded.
    public static func load(from directory: URL) throws -> (card: ModelCard, graph: Graph, weights: Data) {
        let card = try ModelCard(json: Data(contentsOf: directory.appendingPathComponent(cardFile)))
        guard let architecture = card.architecture else {
            throw GraphError(node: card.name, "the card has no native architecture")
        }
        let weights = try Data(contentsOf: directory.appendingPathComponent(weightsFile))
        let graph = try architecture.makeGraph()
        try graph.load(Safetensors.decode(weights))
        return (card, graph, weights)
    }
}
