import CNN
import Foundation
import HTTPServer
import HTTPTypes

/// The Open Inference Protocol (KServe v2) over HTTP, with the extensions its clients rely on:
/// binary tensor data, classification, model configuration and statistics (the model repository
/// extension is `RepositoryRoutes`). Every route answers
/// an error as `{"error": "<message>"}` (`SalientService` sets that format for /v2).
struct OpenInferenceRoutes {
    let registry: ModelRegistry
    let images: ImagePreparation
    let configuration: ServiceConfiguration
    let metrics: ServiceMetrics

    /// Names the service in metadata and configuration, where Triton names its backends.
    static let platform = "salient"

    static let extensions = ["binary_tensor_data", "classification", "model_configuration", "model_repository", "statistics"]

    struct ServerMetadata: Codable {
        var name: String
        var version: String
        var extensions: [String]
    }

    struct TensorMetadata: Codable {
        var name: String
        var datatype: String
        var shape: [Int]
    }

    struct ModelMetadata: Codable {
        var name: String
        var versions: [String]
        var platform: String
        var inputs: [TensorMetadata]
        var outputs: [TensorMetadata]
    }

    struct ModelReadiness: Codable {
        var name: String
        var ready: Bool
    }

    /// The infer route's bodies: JSON, or JSON followed by binary data. tritonclient sends
    /// either with no Content-Type at all, which only clients that are not browsers may do.
    static let inferenceBodies = AcceptedBodyTypes(["application/json", "application/octet-stream"], untypedFromNonBrowsers: true)

    func register(on router: GuardedRouter) {
        router.get("/v2") { _ in
            try .json(ServerMetadata(name: "salient", version: SalientService.version, extensions: Self.extensions))
        }
        // Probes, like /healthz and /readyz: on the quick lane and open.
        router.operation("/v2/health/live") { _ in try .json(["live": true]) }
        router.operation("/v2/health/ready") { _ in
            let ready = registry.defaultModel != nil
            return try .json(["ready": ready], status: ready ? .ok : .serviceUnavailable)
        }
        for prefix in ["/v2/models/:name", "/v2/models/:name/versions/:version"] {
            router.get(prefix) { request in try .json(try metadata(try model(request))) }
            router.get(prefix + "/ready") { request in
                let model = try model(request)
                return try .json(ModelReadiness(name: model.name, ready: true))
            }
            router.get(prefix + "/config") { request in
                let model = try model(request)
                return try .json(ModelConfiguration(model: model, versions: try servedVersions(of: model.name),
                                                    configuration: configuration))
            }
            router.get(prefix + "/stats") { request in
                // Without a version, every version of the model, as the statistics extension says.
                guard request.pathParameters["version"] == nil else { return try .json(StatisticsResponse(models: [try model(request)])) }
                let name = try request.parameter("name")
                _ = try registry.model(named: name)
                return try .json(StatisticsResponse(models: registry.allVersions.filter { $0.name == name }))
            }
            router.inference(prefix + "/infer", bodies: Self.inferenceBodies) { request in
                try infer(request, model: try model(request))
            }
        }
        router.get("/v2/models/stats") { _ in try .json(StatisticsResponse(models: registry.allVersions)) }
    }

    /// The model the path names, at the version it names or the default one.
    private func model(_ request: HTTPServerRequest) throws -> LoadedModel {
        try registry.model(named: request.parameter("name"), version: request.pathParameters["version"])
    }

    /// The versions of a model that serve, oldest first.
    private func servedVersions(of name: String) throws -> [Int] {
        try registry.entry(named: name).loaded.keys.sorted()
    }

    private func metadata(_ model: LoadedModel) throws -> ModelMetadata {
        let inference = ModelInference(model: model, images: images, maxBatchSize: configuration.maxBatchSize)
        return ModelMetadata(name: model.name, versions: try servedVersions(of: model.name).map { "\($0)" }, platform: Self.platform,
                             inputs: [TensorMetadata(name: model.graph.inputName, datatype: "FP32", shape: inference.inputShape)],
                             outputs: [TensorMetadata(name: ModelInference.outputName, datatype: "FP32", shape: inference.outputShape)])
    }

    private func infer(_ request: HTTPServerRequest, model: LoadedModel) throws -> HTTPServerResponse {
        let started = DispatchTime.now()
        let inference = ModelInference(model: model, images: images, maxBatchSize: configuration.maxBatchSize)
        let parsed: InferenceRequest
        switch try headerLength(request) {
        case 0?:
            parsed = try InferenceRequest.raw(request.body, input: model.graph.inputName, shape: [1] + model.inputShape)
        case let length:
            parsed = try InferenceRequest.parse(request.body, headerLength: length, limits: inference.limits)
        }
        let response = try inference.run(parsed, received: started).http()
        metrics.recordInference(model: model.name, kind: "infer", seconds: seconds(since: started))
        return response
    }

    private func headerLength(_ request: HTTPServerRequest) throws -> Int? {
        guard let text = request.headerFields[HTTPField.Name(InferenceRequest.headerLengthField)!] else { return nil }
        guard let length = Int(text.trimmingCharacters(in: .whitespaces)), length >= 0 else {
            throw ServiceError.badParameter("\(InferenceRequest.headerLengthField) must be a whole number of bytes, not '\(text)'")
        }
        return length
    }
}

/// `{"model_stats": [...]}`, each model version's counts as the statistics extension lays them out.
struct StatisticsResponse: Encodable {
    struct BatchStatistics: Encodable {
        var batch_size: Int
        var compute_input: InferenceStatistics.Duration
        var compute_infer: InferenceStatistics.Duration
        var compute_output: InferenceStatistics.Duration
    }

    struct ModelStatistics: Encodable {
        var name: String
        var version: String
        var last_inference: UInt64
        var inference_count: UInt64
        var execution_count: UInt64
        var inference_stats: [String: InferenceStatistics.Duration]
        var response_stats: [String: [String: InferenceStatistics.Duration]] = [:]
        var batch_stats: [BatchStatistics]
        var memory_usage: [String] = []
    }

    var model_stats: [ModelStatistics]

    init(models: [LoadedModel]) {
        model_stats = models.map { model in
            let snapshot = model.statistics.snapshot
            var stages = Dictionary(uniqueKeysWithValues: InferenceStatistics.Stage.allCases.map {
                ($0.rawValue, snapshot.stages[$0] ?? InferenceStatistics.Duration())
            })
            // No response cache: nothing is ever a hit or a miss.
            stages["cache_hit"] = InferenceStatistics.Duration()
            stages["cache_miss"] = InferenceStatistics.Duration()
            let batches = snapshot.batches.sorted { $0.key < $1.key }.map { size, infer in
                BatchStatistics(batch_size: size, compute_input: .init(), compute_infer: infer, compute_output: .init())
            }
            return ModelStatistics(name: model.name, version: "\(model.version)", last_inference: snapshot.lastInference,
                                   inference_count: snapshot.inferenceCount, execution_count: snapshot.executionCount,
                                   inference_stats: stages, batch_stats: batches)
        }
    }
}
