/// Pointwise activations, Clip and Gelu.
extension ONNXOperatorSet {
    static let activations: [String: Converter] = [
        "Relu": activation { _ in .relu },
        "LeakyRelu": activation { r in .leakyReLU(alpha: r.float("alpha", default: 0.01)) },
        "Sigmoid": activation { _ in .sigmoid },
        "HardSigmoid": activation { r in .hardSigmoid(alpha: r.float("alpha", default: 0.2), beta: r.float("beta", default: 0.5)) },
        "HardSwish": activation { _ in .hardSwish },
        "Tanh": activation { _ in .tanh },
        "Clip": clip,
        "Gelu": { r, b in
            let approximate = r.string("approximate") ?? "none"
            guard approximate == "none" || approximate == "tanh" else { throw r.error("approximate '\(approximate)' is not supported") }
            let op: Operator = approximate == "tanh" ? Pointwise(.geluTanh) : ActivationLayer(.gelu)
            return [try b.apply(op, [b.input(r, 0)], for: r)]
        },
    ]

    private static func activation(_ make: @escaping @Sendable (ONNXNodeReader) -> Activation) -> Converter {
        { r, b in [try b.apply(ActivationLayer(make(r)), [b.input(r, 0)], for: r)] }
    }

    /// Bounds are attributes before opset 11 and optional scalar inputs from then on.
    private static func clip(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        var lower = -Float.infinity, upper = Float.infinity
        if r.opset < 11 {
            lower = r.float("min", default: lower)
            upper = r.float("max", default: upper)
        } else {
            for (index, role) in [(1, "min"), (2, "max")] {
                guard let bound = try b.constantInput(r, index, role) else { continue }
                guard bound.count == 1 else { throw r.error("\(role) must be a scalar") }
                let value = bound.floats(for: r.location)[0]
                if index == 1 { lower = value } else { upper = value }
            }
        }
        return [try b.apply(ActivationLayer(.clip(min: lower, max: upper)), [b.input(r, 0)], for: r)]
    }
}
