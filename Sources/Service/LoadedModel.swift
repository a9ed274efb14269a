import CNN
import Foundation
import Imaging

/// A model ready to serve: its card, its graph cut at the logits, how to feed it, and the
/// executors that run it.
final class LoadedModel: @unchecked Sendable {
    let name: String
    let card: ModelCard
    /// The graph as loaded (used for export, saliency and fine-tuning).
    let graph: Graph
    /// The graph whose output is the pre-softmax scores, with BatchNorm folded and
    /// activations fused for inference.
    let logitsGraph: Graph
    let preprocessing: Preprocessing
    let analysis: ModelAnalysis
    let pool: ExecutorPool
    /// Classification goes through here, sharing the pool with saliency.
    let batcher: InferenceBatcher
    let directory: URL

    var labels: [String] { card.labels }
    var inputShape: [Int] { graph.inputShape }
    var format: String { card.onnxFile == nil ? "native" : "onnx" }

    init(card: ModelCard, graph: Graph, directory: URL, configuration: ServiceConfiguration) throws {
        self.name = card.name
        self.card = card
        self.graph = graph
        self.directory = directory
        let scoreNode = SaliencyComputer(executor: Executor(graph: graph)).scoreNode
        logitsGraph = try Graph(name: graph.name, inputName: graph.inputName, inputShape: graph.inputShape,
                                nodes: graph.nodes, outputName: scoreNode).optimizedForInference()
        preprocessing = try LoadedModel.preprocessing(from: card.preprocessing)
        analysis = try ModelAnalysis(graph: graph)
        pool = ExecutorPool(graph: logitsGraph, size: configuration.inferenceThreads,
                            maxWaiting: configuration.maxQueuedRequests)
        batcher = InferenceBatcher(pool: pool, maxBatchSize: configuration.maxBatchSize,
                                   maxDelay: configuration.maxBatchDelayMilliseconds / 1000,
                                   maxQueued: configuration.maxQueuedRequests)
        guard let shape = preprocessing.outputShape, Array(shape.dropFirst()) == graph.inputShape else {
            throw GraphError(node: card.name, "preprocessing produces \(preprocessing.outputShape.map { "\($0)" } ?? "a variable shape"), the model takes [1] + \(graph.inputShape)")
        }
        let classes = try logitsGraph.shapes(batch: 1)[logitsGraph.outputName]!.dropFirst().reduce(1, *)
        guard classes == card.labels.count else {
            throw GraphError(node: card.name, "the model scores \(classes) classes but the card has \(card.labels.count) labels")
        }
    }

    /// A card's preprocessing is either a full description or `{"preset": name}`.
    static func preprocessing(from value: JSONValue?) throws -> Preprocessing {
        guard let value else { throw GraphError(node: "card", "the card does not say how to preprocess images") }
        if case let .object(fields) = value, fields.count == 1, case let .string(preset)? = fields["preset"] {
            guard let known = Preprocessing.presets[preset] else {
                throw GraphError(node: "card", "unknown preprocessing preset '\(preset)'")
            }
            return known
        }
        return try JSONDecoder().decode(Preprocessing.self, from: JSONEncoder().encode(value))
    }

    /// The summary `GET /v1/models` lists.
    func summary(isDefault: Bool) -> ModelSummary {
        ModelSummary(name: name, isDefault: isDefault, classes: labels.count, input: inputShape, format: format)
    }
}

struct ModelSummary: Codable {
    var name: String
    var isDefault: Bool
    var classes: Int
    var input: [Int]
    var format: String

    enum CodingKeys: String, CodingKey {
        case name, classes, input, format
        case isDefault = "default"
    }
}
