/// Shape manipulation, indexing, constants and the int64 shape arithmetic that folds away.
extension ONNXOperatorSet {
    static let shapes: [String: Converter] = [
        "Identity": { r, b in [try b.input(r, 0)] },
        "Constant": constant,
        "ConstantOfShape": constantOfShape,
        "Shape": shape,
        "Size": { r, b in
            let count = try b.input(r, 0).shape.reduce(1, *)
            return [.constant(ONNXTensor(name: r.outputName, shape: [], elements: .int64([Int64(count)])))]
        },
        "Cast": cast,
        "Reshape": reshape,
        "Flatten": { r, b in [try b.apply(Flatten(axis: try r.int("axis", default: 1)), [b.input(r, 0)], for: r)] },
        "Transpose": { r, b in
            let x = try b.input(r, 0)
            let permutation = r.ints("perm") ?? Array((0..<x.shape.count).reversed())
            return [try b.apply(Transpose(permutation: permutation), [x], for: r)]
        },
        "Squeeze": squeeze,
        "Unsqueeze": unsqueeze,
        "Concat": { r, b in
            let inputs = try r.proto.input.indices.map { try b.input(r, $0) }
            guard r.has("axis") || r.opset < 4 else { throw r.error("axis is required") }
            return [try b.apply(Concat(axis: try r.int("axis", default: 1)), inputs, for: r)]
        },
        "Slice": slice,
        "Split": split,
        "Gather": gather,
        "Pad": pad,
    ]

    private static func constant(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        let name = r.outputName
        if var tensor = try r.tensor("value") {
            tensor.name = name
            return [.constant(tensor)]
        }
        if r.has("value_float") { return [.constant(ONNXTensor(name: name, shape: [], elements: .float([r.float("value_float", default: 0)])))] }
        if let floats = r.floats("value_floats"), r.has("value_floats") {
            return [.constant(ONNXTensor(name: name, shape: [floats.count], elements: .float(floats)))]
        }
        if r.has("value_int") { return [.constant(ONNXTensor(name: name, shape: [], elements: .int64([Int64(try r.int("value_int", default: 0))])))] }
        if let ints = r.ints("value_ints"), r.has("value_ints") {
            return [.constant(ONNXTensor(name: name, shape: [ints.count], elements: .int64(ints.map { Int64($0) })))]
        }
        throw r.error("only tensor, float and int values are supported")
    }

    /// The value may be replaced through `ONNXImportOptions.constantOfShapeValue`, for models
    /// that generate their weights this way.
    private static func constantOfShape(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        guard let shape = try b.constantIntegers(r, 0, "the shape") else { throw r.error("the shape is missing") }
        guard ONNXTensor.elementCount(shape) != nil else {
            throw r.error("invalid shape \(shape)")
        }
        try b.accountForComputedConstant(shape, at: r.location)
        let index = b.constantOfShapeCount
        b.constantOfShapeCount += 1
        let name = r.outputName
        let site = ONNXConstantOfShapeSite(index: index, output: name, shape: shape, consumers: b.consumers[name] ?? [])
        if let supplied = b.constantOfShapeValue?(site) {
            guard supplied.count == shape.reduce(1, *) else { throw r.error("the supplied value has \(supplied.count) elements for shape \(shape)") }
            return [.constant(ONNXTensor(name: name, supplied.reshaped(to: shape)))]
        }
        let fill = try r.tensor("value") ?? ONNXTensor(shape: [1], elements: .float([0]))
        guard fill.count == 1 else { throw r.error("value must hold one element") }
        let count = shape.reduce(1, *)
        switch fill.elements {
        case let .float(v): return [.constant(ONNXTensor(name: name, shape: shape, elements: .float(Array(repeating: v[0], count: count))))]
        case let .int64(v): return [.constant(ONNXTensor(name: name, shape: shape, elements: .int64(Array(repeating: v[0], count: count))))]
        }
    }

    /// The shape at the import batch size; a Reshape that reads it back keeps the batch free.
    private static func shape(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        let dims = try b.input(r, 0).shape
        let rank = dims.count
        func clamp(_ i: Int) -> Int { min(max(i < 0 ? i + rank : i, 0), rank) }
        let start = clamp(try r.int("start", default: 0)), end = clamp(try r.int("end", default: rank))
        let slice = start < end ? Array(dims[start..<end]) : []
        return [.constant(ONNXTensor(name: r.outputName, shape: [slice.count], elements: .int64(slice.map { Int64($0) })))]
    }

    private static func cast(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        let x = try b.input(r, 0)
        guard let to = Onnx_TensorProto.DataType(rawValue: try r.int("to", default: 0)) else { throw r.error("unknown target type") }
        let isFloat = [.float, .float16, .double].contains(to)
        guard var tensor = x.constant else {
            guard isFloat else { throw r.error("casting computed data to \(to) is not supported; the engine computes in Float32") }
            return [x]
        }
        tensor.name = r.outputName
        switch (tensor.elements, isFloat) {
        case let (.float(v), false): tensor.elements = .int64(v.map { Int64(exactly: $0.rounded(.towardZero)) ?? 0 })
        case let (.int64(v), true): tensor.elements = .float(v.map { Float($0) })
        default: break
        }
        return [.constant(tensor)]
    }

    private static func reshape(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        let x = try b.input(r, 0)
        let target: [Int]
        if r.opset < 5 {
            guard let shape = r.ints("shape") else { throw r.error("the shape attribute is missing") }
            target = shape
        } else {
            guard let shape = try b.constantIntegers(r, 1, "the shape") else { throw r.error("the shape is missing") }
            target = shape
        }
        if try r.int("allowzero", default: 0) == 1, target.contains(0) {
            throw r.error("allowzero with a zero dimension (an empty tensor) is not supported")
        }
        // A leading dimension equal to the input's is the batch carried through: write it as
        // "copy" so the graph still runs at any batch size.
        let keeps = !target.isEmpty && !x.shape.isEmpty && target[0] == x.shape[0]
        return [try b.reshape(x, to: target, keepsLeadingAxis: keeps, for: r)]
    }

    private static func axes(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [Int]? {
        r.opset < 13 ? r.ints("axes") : try b.constantIntegers(r, 1, "axes")
    }

    private static func squeeze(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        let x = try b.input(r, 0)
        let rank = x.shape.count
        let axes = try Set((try axes(r, b) ?? x.shape.indices.filter { x.shape[$0] == 1 }).map { try normalizedAxis($0, rank: rank, r) })
        for axis in axes where x.shape[axis] != 1 { throw r.error("cannot squeeze axis \(axis) of size \(x.shape[axis])") }
        let shape = x.shape.indices.filter { !axes.contains($0) }.map { x.shape[$0] }
        return [try b.reshape(x, to: shape, keepsLeadingAxis: !axes.contains(0), for: r)]
    }

    private static func unsqueeze(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        let x = try b.input(r, 0)
        guard let rawAxes = try axes(r, b) else { throw r.error("axes are missing") }
        let rank = x.shape.count + rawAxes.count
        let axes = Set(try rawAxes.map { try normalizedAxis($0, rank: rank, r) })
        guard axes.count == rawAxes.count else { throw r.error("repeated axes \(rawAxes)") }
        var rest = x.shape.makeIterator()
        let shape = (0..<rank).map { axes.contains($0) ? 1 : rest.next()! }
        return [try b.reshape(x, to: shape, keepsLeadingAxis: !axes.contains(0), for: r)]
    }

    private static func slice(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        let x = try b.input(r, 0)
        let starts, ends: [Int]
        let axes, steps: [Int]?
        if r.opset < 10 {
            guard let s = r.ints("starts"), let e = r.ints("ends") else { throw r.error("starts and ends are required") }
            (starts, ends, axes, steps) = (s, e, r.ints("axes"), nil)
        } else {
            guard let s = try b.constantIntegers(r, 1, "starts"), let e = try b.constantIntegers(r, 2, "ends") else {
                throw r.error("starts and ends are required")
            }
            (starts, ends) = (s, e)
            axes = try b.constantIntegers(r, 3, "axes")
            steps = try b.constantIntegers(r, 4, "steps")
        }
        return [try b.apply(Slice(starts: starts, ends: ends, axes: axes, steps: steps), [x], for: r)]
    }

    /// One Slice per output: an engine node has a single output.
    private static func split(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        let x = try b.input(r, 0)
        let axis = try normalizedAxis(try r.int("axis", default: 0), rank: x.shape.count, r)
        let dim = x.shape[axis]
        let outputs = r.proto.output.count
        var sizes = r.opset < 13 ? r.ints("split") : try b.constantIntegers(r, 1, "split")
        if sizes == nil {
            let parts = r.has("num_outputs") ? try r.int("num_outputs", default: outputs) : outputs
            guard parts > 0 else { throw r.error("no outputs") }
            let chunk = (dim + parts - 1) / parts
            sizes = (0..<parts).map { max(0, min(chunk, dim - $0 * chunk)) }
        }
        guard let sizes, sizes.count == outputs, sizes.allSatisfy({ $0 >= 0 && $0 <= dim }), sizes.reduce(0, +) == dim else {
            throw r.error("split sizes do not fit \(outputs) outputs over an axis of \(dim)")
        }
        var start = 0
        return try sizes.enumerated().map { index, size in
            defer { start += size }
            let name = r.proto.output[index].isEmpty ? "\(r.outputName)/\(index)" : r.proto.output[index]
            return try b.apply(Slice(starts: [start], ends: [start + size], axes: [axis]), to: [x], name: name, at: r.location)
        }
    }

    private static func gather(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        guard let indices = try b.constantInput(r, 1, "the indices") else { throw r.error("the indices are missing") }
        let op = Gather(axis: try r.int("axis", default: 0), indices: try indices.integers(for: r.location), indicesShape: indices.shape)
        return [try b.apply(op, [b.input(r, 0)], for: r)]
    }

    /// Pads are attributes before opset 11, then inputs (with optional axes from opset 18).
    private static func pad(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        let x = try b.input(r, 0)
        let rank = x.shape.count
        let modeName = r.string("mode") ?? "constant"
        guard let mode = Pad.Mode(rawValue: modeName) else { throw r.error("mode '\(modeName)' is not supported") }
        var pads: [Int]
        var value: Float = 0
        var axes = Array(0..<rank)
        if r.opset < 11 {
            guard let p = r.ints("pads") ?? r.ints("paddings") else { throw r.error("pads are missing") }
            pads = p
            value = r.float("value", default: 0)
        } else {
            guard let p = try b.constantIntegers(r, 1, "pads") else { throw r.error("pads are missing") }
            pads = p
            if let v = try b.constantInput(r, 2, "constant_value") {
                guard let first = v.floats(for: r.location).first else { throw r.error("constant_value is empty") }
                value = first
            }
            if let a = try b.constantIntegers(r, 3, "axes") { axes = try a.map { try normalizedAxis($0, rank: rank, r) } }
        }
        guard pads.count == 2 * axes.count, pads.allSatisfy({ abs($0) <= ONNXTensor.maximumCount }) else {
            throw r.error("pads \(pads) do not fit \(axes.count) axes")
        }
        var before = [Int](repeating: 0, count: rank), after = before
        for (i, axis) in axes.enumerated() {
            before[axis] = pads[i]
            after[axis] = pads[axes.count + i]
        }
        return [try b.apply(Pad(before: before, after: after, mode: mode, value: value), [x], for: r)]
    }
}
