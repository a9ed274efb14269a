import CNN
import Foundation
import HTTPServer

/// The KServe Open Inference Protocol v2 over REST, FP32 tensors in JSON.
struct KServeRoutes {
    let registry: ModelRegistry
    let metrics: ServiceMetrics

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

    struct InferTensor: Codable {
        var name: String
        var shape: [Int]
        var datatype: String
        var data: [Float]
    }

    struct InferRequest: Codable {
        var id: String?
        var inputs: [InferTensor]
    }

    struct InferResponse: Codable {
        var modelName: String
        var id: String?
        var outputs: [InferTensor]

        enum CodingKeys: String, CodingKey {
            case modelName = "model_name", id, outputs
        }
    }

    func register(on router: GuardedRouter) {
        router.get("/v2/health/live") { _ in try .json(["live": true]) }
        router.get("/v2/health/ready") { _ in try .json(["ready": registry.defaultModel != nil]) }
        router.get("/v2/models/:name") { request in
            let model = try registry.model(named: request.parameter("name"))
            return try .json(ModelMetadata(
                name: model.name, versions: ["1"], platform: "salient",
                inputs: [TensorMetadata(name: model.graph.inputName, datatype: "FP32", shape: [-1] + model.inputShape)],
                outputs: [TensorMetadata(name: "logits", datatype: "FP32", shape: [-1, model.labels.count])]))
        }
        router.get("/v2/models/:name/ready") { request in
            let model = try registry.model(named: request.parameter("name"))
            return try .json(["name": model.name, "ready": "true"])
        }
        router.inference("/v2/models/:name/infer", bodies: .json) { request in
            let model = try registry.model(named: request.parameter("name"))
            let body: InferRequest
            do {
                body = try JSONDecoder().decode(InferRequest.self, from: request.body)
            } catch {
                throw ServiceError.badParameter("the body is not an inference request: \((error as? DecodingError)?.problem ?? "\(error)")")
            }
            guard body.inputs.count == 1, let input = body.inputs.first else {
                throw ServiceError.badParameter("the model takes exactly one input tensor")
            }
            guard input.datatype == "FP32" else { throw ServiceError.badParameter("only FP32 inputs are supported") }
            guard input.shape.count == model.inputShape.count + 1, Array(input.shape.dropFirst()) == model.inputShape,
                  (1...256).contains(input.shape[0]) else {
                throw ServiceError.badParameter("input shape must be [N] + \(model.inputShape) with N from 1 to 256")
            }
            guard input.data.count == input.shape.reduce(1, *) else {
                throw ServiceError.badParameter("\(input.data.count) values do not fill shape \(input.shape)")
            }
            let started = DispatchTime.now()
            let logits = try model.pool.withExecutor { try $0.infer(Tensor(shape: input.shape, scalars: input.data)) }
            metrics.recordInference(model: model.name, kind: "infer", seconds: seconds(since: started))
            return try .json(InferResponse(modelName: model.name, id: body.id, outputs: [
                InferTensor(name: "logits", shape: logits.shape, datatype: "FP32", data: logits.scalars),
            ]))
        }
    }
}
