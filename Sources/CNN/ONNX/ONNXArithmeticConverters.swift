/// Elementwise arithmetic, Pow, Sqrt, Reciprocal, Erf, Sum, MatMul and Gemm.
extension ONNXOperatorSet {
    static let arithmetic: [String: Converter] = [
        "Add": binary(.add),
        "Sub": binary(.sub),
        "Mul": binary(.mul),
        "Div": binary(.div),
        "Pow": { r, b in [try b.apply(Power(), [b.input(r, 0), b.input(r, 1)], for: r)] },
        "Sqrt": pointwise(.sqrt),
        "Reciprocal": pointwise(.reciprocal),
        "Erf": pointwise(.erf),
        "Sum": { r, b in
            let inputs = try r.proto.input.indices.map { try b.input(r, $0) }
            guard let first = inputs.first else { throw r.error("Sum needs at least one input") }
            return [inputs.count == 1 ? first : try b.apply(Elementwise(.add), inputs, for: r)]
        },
        "MatMul": matMul,
        "Gemm": gemm,
    ]

    static func pointwise(_ function: Pointwise.Function) -> Converter {
        { r, b in [try b.apply(Pointwise(function), [b.input(r, 0)], for: r)] }
    }

    /// A product with a weight matrix (PyTorch's Linear on more than two axes) is a Dense layer
    /// over the last axis, whose weight trains; any other is a MatMul.
    private static func matMul(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        let (a, w) = (try b.input(r, 0), try b.input(r, 1))
        if let weight = w.constant, b.initializerNames.contains(weight.name), !weight.isInteger, weight.shape.count == 2,
           a.constant == nil, a.shape.count >= 2 {
            let dense = Dense(weight: b.parameter(weight.name, weight.tensor.transposedMatrix), bias: nil, appliesToLastAxis: true)
            return [try b.apply(dense, [a], for: r)]
        }
        return [try b.apply(MatMul(), [a, w], for: r)]
    }

    /// The bias Add after a Dense layer from `matMul`, when nothing else reads the product and
    /// the bias is a weight of one value per output: the bias joins the Dense layer.
    private static func denseWithBias(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder, _ x: ONNXValue, _ y: ONNXValue) -> ONNXValue? {
        for (product, bias, index) in [(x, y, 0), (y, x, 1)] {
            guard case let .node(name, _) = product, let last = b.nodes.last, last.name == name,
                  let dense = last.op as? Dense, dense.appliesToLastAxis, dense.bias == nil, dense.activation == nil,
                  let tensor = bias.constant, b.initializerNames.contains(tensor.name), !tensor.isInteger,
                  tensor.count == dense.outFeatures, tensor.shape.last == dense.outFeatures,
                  b.consumers[r.proto.input[index]]?.count == 1, !b.graphOutputs.contains(r.proto.input[index]) else { continue }
            let fused = Dense(weight: dense.weight, bias: b.parameter(tensor.name, tensor.tensor.reshaped(to: [tensor.count])),
                              appliesToLastAxis: true)
            b.replaceLastNode(named: name, with: Node(name: name, op: fused, inputs: last.inputs))
            return product
        }
        return nil
    }

    private static func binary(_ operation: Elementwise.Operation) -> Converter {
        { r, b in
            let a = try b.input(r, 0)
            var other = try b.input(r, 1)
            if operation == .add, let fused = denseWithBias(r, b, a, other) { return [fused] }
            // Before opset 7, broadcast = 1 with an axis aligns B's axes from `axis` of A.
            if r.opset < 7, try r.int("broadcast", default: 0) == 1, r.has("axis") {
                let axis = try normalizedAxis(try r.int("axis", default: 0), rank: a.shape.count, r)
                let trailing = a.shape.count - axis - other.shape.count
                guard trailing >= 0 else { throw r.error("B \(other.shape) does not fit A \(a.shape) at axis \(axis)") }
                other = try b.apply(Reshape(other.shape + [Int](repeating: 1, count: trailing)), [other], for: r, suffix: "/aligned")
            }
            return [try b.apply(Elementwise(operation), [a, other], for: r)]
        }
    }

    /// Y = alpha * op(A) op(B) + beta * C. With a constant B this is a Dense layer whose
    /// weight (alpha folded in) and bias are Parameters; otherwise a MatMul chain.
    private static func gemm(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        var a = try b.input(r, 0)
        let bValue = try b.input(r, 1)
        let c = try b.optionalInput(r, 2)
        let alpha = r.float("alpha", default: 1), beta = r.float("beta", default: 1)
        let transA = try r.int("transA", default: 0) == 1, transB = try r.int("transB", default: 0) == 1
        guard a.shape.count == 2, bValue.shape.count == 2 else { throw r.error("A and B must be matrices, got \(a.shape) and \(bValue.shape)") }
        if transA { a = try b.apply(Transpose(permutation: [1, 0]), [a], for: r, suffix: "/transA") }
        let n = transB ? bValue.shape[0] : bValue.shape[1]

        guard let weights = bValue.constant, a.constant == nil else {
            var bMatrix = bValue
            if transB { bMatrix = try b.apply(Transpose(permutation: [1, 0]), [bMatrix], for: r, suffix: "/transB") }
            var y = try b.apply(MatMul(), [a, bMatrix], for: r, suffix: c == nil && alpha == 1 ? "" : "/matmul")
            if alpha != 1 {
                y = try b.apply(Elementwise(.mul), [y, .constant(ONNXTensor(Tensor(shape: [], scalars: [alpha])))], for: r,
                                suffix: c == nil ? "" : "/alpha")
            }
            if let c {
                let scaledC = beta == 1 ? c : try b.apply(Elementwise(.mul), [c, .constant(ONNXTensor(Tensor(shape: [], scalars: [beta])))],
                                                           for: r, suffix: "/beta")
                y = try b.apply(Elementwise(.add), [y, scaledC], for: r)
            }
            return [y]
        }

        var w = weights.tensor
        if !transB { w = w.transposedMatrix }
        if alpha != 1 { w = w.map { $0 * alpha } }
        // A bias that is one value per output column folds into the Dense layer.
        var bias: Tensor?
        var residual: ONNXValue?
        if let c {
            if let constant = c.constant, constant.count == n, constant.shape.count == 1 || constant.shape == [1, n] {
                bias = constant.tensor.reshaped(to: [n]).map { $0 * beta }
            } else if let constant = c.constant, constant.count == 1 {
                bias = Tensor(shape: [n], repeating: constant.floats(for: r.location)[0] * beta)
            } else {
                residual = beta == 1 ? c : try b.apply(Elementwise(.mul), [c, .constant(ONNXTensor(Tensor(shape: [], scalars: [beta])))],
                                                        for: r, suffix: "/beta")
            }
        }
        let dense = Dense(weight: b.parameter(weights.name, w),
                          bias: bias.map { b.parameter(c?.constant?.name ?? "\(r.outputName).bias", $0) })
        let y = try b.apply(dense, [a], for: r, suffix: residual == nil ? "" : "/dense")
        guard let residual else { return [y] }
        return [try b.apply(Elementwise(.add), [y, residual], for: r)]
    }
}
