/// BatchNormalization, LayerNormalization, LRN, Dropout, Softmax and LogSoftmax, ReduceMean.
extension ONNXOperatorSet {
    static let normalization: [String: Converter] = [
        "BatchNormalization": batchNormalization,
        "LayerNormalization": layerNormalization,
        "LRN": { r, b in
            let size = try r.int("size", default: 0)
            guard size > 0 else { throw r.error("size must be positive") }
            return [try b.apply(LRN(size: size, alpha: r.float("alpha", default: 1e-4), beta: r.float("beta", default: 0.75),
                                    bias: r.float("bias", default: 1)), [b.input(r, 0)], for: r)]
        },
        "Dropout": dropout,
        "Softmax": { r, b in [try softmax(r, b, log: false)] },
        "LogSoftmax": { r, b in [try softmax(r, b, log: true)] },
        "ReduceMean": reduceMean,
    ]

    /// Scale and bias become trainable Parameters, the running statistics buffers.
    private static func batchNormalization(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        guard try r.int("training_mode", default: 0) == 0, r.usedOutputs == [0] else {
            throw r.error("training mode (running statistics outputs) is not supported")
        }
        guard try r.int("spatial", default: 1) == 1 else { throw r.error("spatial = 0 is not supported") }
        let roles = ["scale", "bias", "mean", "variance"]
        var tensors: [ONNXTensor] = []
        for (offset, role) in roles.enumerated() {
            guard let t = try b.constantInput(r, offset + 1, "the \(role)") else { throw r.error("the \(role) is missing") }
            tensors.append(t)
        }
        let channels = tensors[0].count
        guard tensors.allSatisfy({ $0.count == channels }) else { throw r.error("scale, bias, mean and variance differ in size") }
        func parameter(_ t: ONNXTensor) -> Parameter { b.parameter(t.name, t.tensor.reshaped(to: [channels])) }
        // ONNX momentum weights the running value; the engine's (PyTorch's) weights the batch.
        let op = BatchNorm(scale: parameter(tensors[0]), shift: parameter(tensors[1]),
                           runningMean: parameter(tensors[2]), runningVariance: parameter(tensors[3]),
                           epsilon: r.float("epsilon", default: 1e-5), momentum: 1 - r.float("momentum", default: 0.9))
        return [try b.apply(op, [b.input(r, 0)], for: r)]
    }

    /// Scale and bias become trainable Parameters of one value per element of a row (ONNX lets
    /// them broadcast against the row). The optional Mean and InvStdDev outputs are spelled out
    /// from ReduceMean and friends; the importer drops them when nothing reads them.
    private static func layerNormalization(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        let x = try b.input(r, 0)
        let rank = x.shape.count
        let axis = try normalizedAxis(try r.int("axis", default: -1), rank: rank, r)
        let rowShape = Array(x.shape[axis...])
        let epsilon = r.float("epsilon", default: 1e-5)
        func row(_ index: Int, _ role: String) throws -> Parameter? {
            guard let t = try b.constantInput(r, index, role) else { return nil }
            guard t.shape.count <= rowShape.count, (try? Broadcast.shape([t.shape, rowShape])) == rowShape else {
                throw r.error("\(role) of shape \(t.shape) does not broadcast to the normalized shape \(rowShape)")
            }
            let offsets = Broadcast.offsets(of: t.shape, in: rowShape)
            let values = t.floats(for: r.location)
            return b.parameter(t.name, Tensor(shape: [offsets.count], scalars: offsets.map { values[$0] }))
        }
        guard let scale = try row(1, "the scale") else { throw r.error("the scale is missing") }
        let op = LayerNorm(scale: scale, shift: try row(2, "the bias"), axis: axis - rank, epsilon: epsilon)
        let y = try b.apply(op, [x], for: r)
        guard r.proto.output.count > 1 else { return [y] }
        let axes = Array(axis..<rank)
        let mean = try b.apply(ReduceMean(axes: axes), to: [x], name: r.outputName + "/mean", at: r.location)
        let centred = try b.apply(Elementwise(.sub), to: [x, mean], name: r.outputName + "/centred", at: r.location)
        let squares = try b.apply(Power(), to: [centred, .constant(ONNXTensor(Tensor(shape: [], scalars: [2])))],
                                  name: r.outputName + "/squares", at: r.location)
        let variance = try b.apply(ReduceMean(axes: axes), to: [squares], name: r.outputName + "/variance", at: r.location)
        let shifted = try b.apply(Elementwise(.add), to: [variance, .constant(ONNXTensor(Tensor(shape: [], scalars: [epsilon])))],
                                  name: r.outputName + "/variance_epsilon", at: r.location)
        let deviation = try b.apply(Pointwise(.sqrt), to: [shifted], name: r.outputName + "/deviation", at: r.location)
        let inverse = try b.apply(Pointwise(.reciprocal), to: [deviation], name: r.outputName + "/inverse_deviation", at: r.location)
        return [y, mean, inverse]
    }

    /// Inference dropout is the identity; a Dropout node is kept (when the rate is known and
    /// positive) so that fine-tuning an imported model still regularizes.
    private static func dropout(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        // The mask output is left undefined: a node reading it fails with a clear error.
        let x = try b.input(r, 0)
        var rate = r.float("ratio", default: 0.5)
        if r.opset >= 12 {
            rate = try b.constantInput(r, 1, "ratio").map { $0.floats(for: r.location).first ?? 0.5 } ?? 0.5
            if let training = try b.constantInput(r, 2, "training_mode"), training.floats(for: r.location).first != 0, rate > 0 {
                throw r.error("training-mode dropout is random and cannot be imported as a fixed graph")
            }
        }
        guard rate > 0, rate < 1, x.constant == nil else { return [x] }
        return [try b.apply(Dropout(rate: rate), [x], for: r)]
    }

    /// From opset 13 the axis is a plain axis (default -1); before, the input is coerced to
    /// 2-D at `axis` (default 1) and normalized over the whole trailing block.
    private static func softmax(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder, log: Bool) throws -> ONNXValue {
        let x = try b.input(r, 0)
        let rank = x.shape.count
        let axis = try normalizedAxis(try r.int("axis", default: r.opset >= 13 ? -1 : 1), rank: rank, r)
        if r.opset >= 13 || axis == rank - 1 {
            return try b.apply(Softmax(axis: axis, log: log), [x], for: r)
        }
        let flat = try b.apply(Flatten(axis: axis), [x], for: r, suffix: "/flat")
        let y = try b.apply(Softmax(axis: 1, log: log), [flat], for: r, suffix: "/2d")
        return try b.reshape(y, to: x.shape, keepsLeadingAxis: axis > 0, for: r)
    }

    private static func reduceMean(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        let x = try b.input(r, 0)
        let axes = r.opset < 18 ? r.ints("axes") : try b.constantIntegers(r, 1, "axes")
        let keep = try r.int("keepdims", default: 1) == 1
        if axes?.isEmpty ?? true, try r.int("noop_with_empty_axes", default: 0) == 1 { return [x] }
        return [try b.apply(ReduceMean(axes: axes?.isEmpty == true ? nil : axes, keepsDimensions: keep), [x], for: r)]
    }
}
