import CNN
import Foundation

/// Runs an Open Inference Protocol request on one model: its one input, an FP32 tensor of
/// shape [N] + the model's input shape or BYTES holding N encoded images (shape [N] or [N, 1])
/// that the model's own preprocessing decodes, as Triton's image ensembles take them; its one
/// output, `logits`, the pre-softmax scores [N, classes], or their top classes when the request
/// asks for the classification extension. N is at most `max_batch_size`. Every stage is
/// counted in the model's statistics.
struct ModelInference {
    static let outputName = "logits"

    let model: LoadedModel
    let images: ImagePreparation
    let maxBatchSize: Int

    /// Runs a request whose body was being read into `request` from `received` on: the body's
    /// tensors are the request's input stage, as a backend's input copy is Triton's.
    func run(_ request: InferenceRequest, received: DispatchTime) throws -> InferenceResponse {
        let start = received
        do {
            let outputs = try requestedOutputs(request)
            var timing = InferenceStatistics.RequestTiming()
            let (logits, batch) = try infer(try boundInput(request), since: start, timing: &timing)
            let outputStart = DispatchTime.now()
            let response = InferenceResponse(modelName: model.name, modelVersion: "\(model.version)", id: request.id,
                                             outputs: outputs.map { output(logits, batch: batch, for: $0, request: request) })
            timing.output = nanoseconds(since: outputStart)
            model.statistics.recordSuccess(total: nanoseconds(since: start), timing)
            return response
        } catch {
            model.statistics.recordFailure(total: nanoseconds(since: start))
            throw error
        }
    }

    /// What one request to this model may carry.
    var limits: InferenceRequest.Limits {
        InferenceRequest.Limits(maxValues: maxBatchSize * model.inputShape.reduce(1, *), maxByteElements: maxBatchSize,
                                setting: "max_batch_size")
    }

    /// The metadata's description of the input: every dimension but the batch is fixed.
    var inputShape: [Int] { [-1] + model.inputShape }
    var outputShape: [Int] { [-1, model.labels.count] }

    /// The input as the engine takes it, or the encoded images still to decode.
    private enum BoundInput {
        case tensor(Tensor)
        case images([Data])

        var batch: Int {
            switch self {
            case let .tensor(tensor): return tensor.shape[0]
            case let .images(images): return images.count
            }
        }
    }

    private func boundInput(_ request: InferenceRequest) throws -> BoundInput {
        let inputName = model.graph.inputName
        guard request.inputs.count == 1, let input = request.inputs.first else {
            throw ServiceError.badParameter("model '\(model.name)' takes one input, '\(inputName)'; the request has \(request.inputs.count)")
        }
        guard input.name == inputName else {
            throw ServiceError.badParameter("unexpected inference input '\(input.name)' for model '\(model.name)': its input is '\(inputName)'")
        }
        let batch = input.shape.first ?? 0
        switch input.values {
        case let .fp32(values):
            guard input.shape.count == model.inputShape.count + 1, Array(input.shape.dropFirst()) == model.inputShape else {
                throw ServiceError.badParameter("input '\(inputName)' of model '\(model.name)' has shape \(inputShape) (the "
                    + "first dimension the batch); the request's is \(input.shape)")
            }
            try checkBatch(batch)
            return .tensor(Tensor(shape: input.shape, scalars: values))
        case let .bytes(encoded):
            guard input.shape.count == 1 || (input.shape.count == 2 && input.shape[1] == 1) else {
                throw ServiceError.badParameter("a BYTES input holds one encoded image per batch entry: shape [N] or [N, 1], "
                    + "not \(input.shape)")
            }
            try checkBatch(batch)
            try images.checkRequest(encoded)
            return .images(encoded)
        case .unread:
            throw ServiceError.badParameter("input '\(inputName)' of model '\(model.name)' takes FP32 (a tensor of shape "
                + "\(inputShape)) or BYTES (encoded images its preprocessing decodes), not \(input.datatype.rawValue)")
        }
    }

    private func checkBatch(_ batch: Int) throws {
        guard (1...maxBatchSize).contains(batch) else {
            throw BudgetError.exceeded("the request's batch is \(batch); model '\(model.name)' takes batches of 1 to "
                + "\(maxBatchSize)", setting: "max_batch_size", status: .badRequest, code: "bad_parameter")
        }
    }

    private func requestedOutputs(_ request: InferenceRequest) throws -> [InferenceRequest.RequestedOutput] {
        guard let outputs = request.outputs, !outputs.isEmpty else {
            return [InferenceRequest.RequestedOutput(name: Self.outputName, binaryData: nil, classification: nil)]
        }
        for output in outputs where output.name != Self.outputName {
            throw ServiceError.badParameter("unexpected inference output '\(output.name)' for model '\(model.name)': its output is "
                + "'\(Self.outputName)'")
        }
        return outputs
    }

    /// The logits of every batch entry, as one [N, classes] tensor, and where the time went. A
    /// single entry joins the model's batcher, which runs it together with other requests'
    /// entries; a batch the client formed runs as it is.
    private func infer(_ input: BoundInput, since inputStart: DispatchTime,
                       timing: inout InferenceStatistics.RequestTiming) throws -> (Tensor, Int) {
        switch input {
        case let .tensor(tensor) where tensor.shape[0] == 1:
            timing.input = nanoseconds(since: inputStart)
            let batched = try model.batcher.infer { tensor }
            (timing.queue, timing.infer) = (batched.timing.queue, batched.timing.infer)
            return (batched.output, 1)
        case let .images(encoded) where encoded.count == 1:
            let batched = try model.batcher.infer {
                let tensor = try images.input(encoded[0], preprocessing: model.preprocessing).tensor
                timing.input = nanoseconds(since: inputStart)
                return tensor
            }
            (timing.queue, timing.infer) = (batched.timing.queue, batched.timing.infer)
            return (batched.output, 1)
        case let .tensor(tensor):
            timing.input = nanoseconds(since: inputStart)
            return (try runBatch(tensor, timing: &timing), tensor.shape[0])
        case let .images(encoded):
            let tensors = try encoded.map { try images.input($0, preprocessing: model.preprocessing).tensor }
            let stacked = Tensor(shape: [tensors.count] + model.inputShape, scalars: tensors.flatMap(\.scalars))
            timing.input = nanoseconds(since: inputStart)
            return (try runBatch(stacked, timing: &timing), tensors.count)
        }
    }

    private func runBatch(_ tensor: Tensor, timing: inout InferenceStatistics.RequestTiming) throws -> Tensor {
        let called = DispatchTime.now()
        var started = called
        let logits = try model.pool.withExecutor { executor -> Tensor in
            started = DispatchTime.now()
            return try executor.infer(tensor)
        }
        timing.queue = started.uptimeNanoseconds - called.uptimeNanoseconds
        timing.infer = nanoseconds(since: started)
        model.statistics.recordExecution(batchSize: tensor.shape[0], nanoseconds: timing.infer)
        return logits
    }

    private func output(_ logits: Tensor, batch: Int, for requested: InferenceRequest.RequestedOutput,
                        request: InferenceRequest) -> InferenceResponse.Output {
        let binary = requested.binaryData ?? request.binaryDataOutput
        let classes = logits.count / batch
        guard let count = requested.classification else {
            return .init(name: requested.name, shape: [batch, classes], values: .fp32(logits.scalars), binary: binary)
        }
        let k = min(count, classes)
        let rows = (0..<batch).flatMap { row in
            InferenceResponse.classifications(logits.scalars[(row * classes)..<((row + 1) * classes)], labels: model.labels, count: k)
        }
        return .init(name: requested.name, shape: [batch, k], values: .bytes(rows), binary: binary)
    }
}
