import CNN
import Foundation
import HTTPServer
import Imaging

/// A model ready to serve: its card, its graph cut at the logits, how to feed it, and the
/// executors that run it.
final class LoadedModel: Sendable {
    let name: String
    /// Which of the model's versions this is.
    let version: Int
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
    /// Requests, executions and their stages since start (the statistics extension).
    let statistics: InferenceStatistics
    /// What the latest sanity check found for each saliency method (a renumbered copy, never
    /// served before, starts with none).
    let sanity = SanityVerdicts()
    /// What one image costs a backward pass (saliency, or a fine-tuning step): every activation
    /// kept for it and the gradients that flow back through them (`saliencyBatchSize`).
    let saliencyBytesPerImage: Int

    var labels: [String] { card.labels }
    var inputShape: [Int] { graph.inputShape }
    var format: String { card.onnxFile == nil ? "native" : "onnx" }

    init(card: ModelCard, version: Int, graph: Graph, directory: URL, configuration: ServiceConfiguration,
         threads: ComputeThreads) throws {
        self.name = card.name
        self.version = version
        self.card = card
        self.graph = graph
        self.directory = directory
        statistics = InferenceStatistics()
        // Checked before anything costly is built: the input size, the description, then its fit to the model.
        let elements = graph.inputShape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
        guard elements > 0, elements <= configuration.budgets.maxModelInputElements else {
            throw BudgetError.exceeded("the model takes inputs of \(graph.inputShape) = \(elements) elements; at most "
                + "\(configuration.budgets.maxModelInputElements) are allowed", setting: "max_model_input_elements")
        }
        preprocessing = try LoadedModel.preprocessing(from: card.preprocessing)
        guard let shape = preprocessing.outputShape, Array(shape.dropFirst()) == graph.inputShape else {
            let produced = preprocessing.outputShape.map { "\($0)" } ?? "an image-dependent size (it has no resize to a fixed size, or no crop)"
            throw ServiceError.badParameter("preprocessing produces \(produced) but the model takes [1] + \(graph.inputShape): give a "
                + "resize (exact or letterbox, or shorter_side with a crop) to the model's size and its number of color channels")
        }
        let scoreNode = SaliencyComputer(executor: Executor(graph: graph)).scoreNode
        logitsGraph = try Graph(name: graph.name, inputName: graph.inputName, inputShape: graph.inputShape,
                                nodes: graph.nodes, outputName: scoreNode).optimizedForInference()
        analysis = try ModelAnalysis(graph: graph)
        pool = ExecutorPool(graph: logitsGraph, size: configuration.inferenceThreads, threads: threads)
        batcher = InferenceBatcher(pool: pool, maxBatchSize: configuration.maxBatchSize,
                                   maxDelay: configuration.maxBatchDelayMilliseconds / 1000, statistics: statistics)
        let shapes = try logitsGraph.shapes(batch: 1)
        saliencyBytesPerImage = 2 * 4 * shapes.values.reduce(0) { $0 + $1.reduce(1, *) }
        let classes = shapes[logitsGraph.outputName]!.dropFirst().reduce(1, *)
        guard classes == card.labels.count else {
            throw GraphError(node: card.name, "the model scores \(classes) classes but the card has \(card.labels.count) labels")
        }
    }

    /// `model` under another version number and folder, sharing everything built: for a
    /// registration whose number another replica took at the same moment, before either serves.
    init(renumbering model: LoadedModel, as version: Int, directory: URL) {
        name = model.name
        self.version = version
        card = model.card
        graph = model.graph
        logitsGraph = model.logitsGraph
        preprocessing = model.preprocessing
        analysis = model.analysis
        pool = model.pool
        batcher = model.batcher
        self.directory = directory
        statistics = model.statistics
        saliencyBytesPerImage = model.saliencyBytesPerImage
    }

    /// Copies of the input one saliency pass takes (SmoothGrad's noisy copies, integrated
    /// gradients' steps): as many as `maxBytes` holds, from one to `preferred`.
    func saliencyBatchSize(maxBytes: Int, preferred: Int) -> Int {
        max(1, min(preferred, maxBytes / max(saliencyBytesPerImage, 1)))
    }

    /// A card's preprocessing is either a full description or `{"preset": name}`. A description
    /// that does not decode or could never be applied is a 400 naming the problem.
    static func preprocessing(from value: JSONValue?) throws -> Preprocessing {
        guard let value else { throw ServiceError.badParameter("preprocessing is missing: name a preset or describe the steps") }
        if case let .object(fields) = value, fields.count == 1, case let .string(preset)? = fields["preset"] {
            guard let known = Preprocessing.presets[preset] else {
                throw ServiceError.badParameter("unknown preprocessing preset '\(preset)'; the presets are "
                    + Preprocessing.presets.keys.sorted().joined(separator: ", "))
            }
            return known
        }
        let preprocessing: Preprocessing
        do {
            preprocessing = try JSONDecoder().decode(Preprocessing.self, from: JSONEncoder().encode(value))
        } catch let error as DecodingError {
            throw ServiceError.badParameter("preprocessing: \(error.problem)")
        }
        do {
            try preprocessing.validate()
        } catch let error as ImagingError {
            throw ServiceError.badParameter("preprocessing: \(error.message)")
        }
        return preprocessing
    }

    /// The summary `GET /v1/models` lists: this version, among the model's `versions`.
    func summary(isDefault: Bool, versions: [Int]) -> ModelSummary {
        ModelSummary(name: name, isDefault: isDefault, classes: labels.count, input: inputShape, format: format,
                     version: version, versions: versions)
    }
}

struct ModelSummary: Codable {
    var name: String
    /// The service's default model (`default_model`).
    var isDefault: Bool
    var classes: Int
    var input: [Int]
    var format: String
    var version: Int
    var versions: [Int]

    enum CodingKeys: String, CodingKey {
        case name, classes, input, format, version, versions
        case isDefault = "default"
    }
}
