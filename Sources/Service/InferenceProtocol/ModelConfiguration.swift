import Foundation

/// A model as Triton's model configuration describes it (the model configuration extension,
/// `GET /v2/models/{m}/config`), in the JSON form of Triton's `ModelConfig`: what clients such
/// as perf_analyzer and Triton's image_client read to size their requests. Dimensions leave out
/// the batch, whose largest size is `max_batch_size`.
struct ModelConfiguration: Encodable {
    struct Tensor: Encodable {
        var name: String
        var data_type: String
        var format: String?
        var dims: [Int]
    }

    struct VersionPolicy: Encodable {
        struct Specific: Encodable { var versions: [Int] }
        var specific: Specific
    }

    struct DynamicBatching: Encodable {
        var preferred_batch_size: [Int]
        var max_queue_delay_microseconds: Int
    }

    struct InstanceGroup: Encodable {
        var name: String
        var kind: String
        var count: Int
    }

    struct Parameter: Encodable { var string_value: String }

    var name: String
    var platform: String
    var backend: String
    var version_policy: VersionPolicy
    var max_batch_size: Int
    var input: [Tensor]
    var output: [Tensor]
    var dynamic_batching: DynamicBatching
    var instance_group: [InstanceGroup]
    var parameters: [String: Parameter]

    init(model: LoadedModel, versions: [Int], configuration: ServiceConfiguration) throws {
        name = model.name
        platform = OpenInferenceRoutes.platform
        backend = OpenInferenceRoutes.platform
        version_policy = VersionPolicy(specific: .init(versions: versions))
        max_batch_size = configuration.maxBatchSize
        input = [Tensor(name: model.graph.inputName, data_type: "TYPE_FP32",
                        format: model.inputShape.count == 3 ? "FORMAT_NCHW" : "FORMAT_NONE", dims: model.inputShape)]
        output = [Tensor(name: ModelInference.outputName, data_type: "TYPE_FP32", dims: [model.labels.count])]
        var sizes: [Int] = []
        var size = 1
        while size < configuration.maxBatchSize {
            sizes.append(size)
            size *= 2
        }
        dynamic_batching = DynamicBatching(preferred_batch_size: sizes + [configuration.maxBatchSize],
                                           max_queue_delay_microseconds: Int(configuration.maxBatchDelayMilliseconds * 1000))
        instance_group = [InstanceGroup(name: model.name, kind: "KIND_CPU", count: configuration.inferenceThreads)]
        let preprocessing = try model.card.preprocessing.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        parameters = [
            "bytes_input": Parameter(string_value: "the input also takes BYTES of shape [N] or [N, 1]: N encoded images "
                + "(JPEG, PNG) that the model's preprocessing decodes"),
            "preprocessing": Parameter(string_value: preprocessing ?? "{}"),
            "output": Parameter(string_value: "logits: the scores before softmax"),
        ]
    }
}
