import Foundation
import Logging

/// Classification and saliency without the server, for `salient classify` and
/// `salient saliency`: the same registry, preprocessing and rendering as the service.
public struct OfflineRunner {
    private let registry: ModelRegistry
    private let classifier: Classifier

    public init(configuration: ServiceConfiguration) throws {
        var logger = Logger(label: "salient")
        logger.logLevel = .warning
        registry = ModelRegistry(configuration: configuration, logger: logger)
        try registry.start(bundledModels: SalientService.bundledModels)
        classifier = Classifier(configuration: configuration,
                                memory: ImageMemory(capacity: configuration.budgets.maxImageMemoryBytes))
    }

    private func model(_ name: String?) throws -> LoadedModel {
        if let name { return try registry.model(named: name) }
        guard let model = registry.defaultModel else { throw ServiceError.notFound("the default model is not loaded") }
        return model
    }

    /// The same JSON as `POST /v1/models/{name}/classify`.
    public func classify(_ image: Data, model name: String?, topK: Int) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(try classifier.classify(image, model: model(name), topK: topK))
    }

    /// The rendered PNG and the JSON answer of `POST /v1/models/{name}/saliency`;
    /// `parameters` are that route's query parameters.
    public func saliency(_ image: Data, model name: String?, parameters: [String: String]) throws -> (png: [UInt8], json: Data) {
        let request = try SaliencyRequest(budgets: classifier.images.budgets) { parameters[$0] }
        let loaded = try model(name)
        let several = request.isSeveral(labels: loaded.labels)
        let explanation = try SaliencyService(classifier: classifier).explain(image, model: loaded, request: request, grid: several)
        guard let png = explanation.grid ?? explanation.maps.first else {
            throw ServiceError.badParameter("normalize=none needs scale= to draw a PNG")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (png, several ? try encoder.encode(explanation.results) : try encoder.encode(explanation.results[0]))
    }
}
