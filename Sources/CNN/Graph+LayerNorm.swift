/// Layer normalization as exporters spell it before opset 17 (PyTorch: ReduceMean, Sub, Pow,
/// ReduceMean, Add, Sqrt, Div, then Mul by the weight and Add of the bias) found in the graph and
/// run as one `LayerNorm`: one pass for the statistics and one for the output per row instead
/// of nine passes over the tensor (ConvNeXt at opset 13 normalizes this way after every
/// depthwise convolution).
extension Graph {
    /// Each spelled-out layer normalization over trailing axes replaced by a `LayerNorm` holding
    /// the same weight and bias Parameters (so that fine-tuning still trains them); the
    /// intermediates must have no other reader, and the weight and bias one value per element
    /// of a row.
    func layerNormsFused() throws -> Graph {
        let readers = readerCounts()
        let shapes = try shapes(batch: 1)
        let position = Dictionary(uniqueKeysWithValues: nodes.enumerated().map { ($1.name, $0) })
        func producer(_ name: String) -> Node? { position[name].map { nodes[$0] } }
        func readBy(_ name: String, _ count: Int) -> Bool { readers[name] == count && name != outputName }
        func constant(_ name: String) -> Constant? { producer(name)?.op as? Constant }
        func scalar(_ name: String) -> Float? { constant(name).flatMap { $0.value.count == 1 ? $0.value.scalars[0] : nil } }
        func binary(_ node: Node?, _ operation: Elementwise.Operation) -> Node? {
            guard let node, let op = node.op as? Elementwise, op.operation == operation, node.inputs.count == 2 else { return nil }
            return node
        }
        /// The trailing axes count a ReduceMean averages over, keeping them, on a tensor of `rank`.
        func trailingAxes(_ node: Node?, rank: Int) -> Int? {
            guard let node, let mean = node.op as? ReduceMean, mean.keepsDimensions, let axes = mean.axes, !axes.isEmpty,
                  node.inputs.count == 1 else { return nil }
            let normalized = Set(axes.map { $0 < 0 ? $0 + rank : $0 })
            return normalized == Set((rank - axes.count)..<rank) && normalized.count == axes.count ? axes.count : nil
        }
        /// The Parameter behind a constant of one value per row element, a new fixed one for a literal.
        func rowParameter(_ name: String, row: [Int]) -> Parameter? {
            guard let op = constant(name), op.value.count == row.reduce(1, *),
                  Array(op.value.shape.drop(while: { $0 == 1 })) == Array(row.drop(while: { $0 == 1 })) else { return nil }
            return op.parameters.first
                ?? Parameter(name: name, value: op.value.reshaped(to: [op.value.count]), isTrainable: false)
        }

        var absorbed = Set<String>()
        var replacements: [String: Node] = [:]
        for node in nodes {
            guard let div = binary(node, .div), readBy(div.name, 1),
                  let sqrt = producer(div.inputs[1]), (sqrt.op as? Pointwise)?.function == .sqrt, readBy(sqrt.name, 1),
                  let plus = binary(producer(sqrt.inputs[0]), .add), readBy(plus.name, 1),
                  let epsilonName = plus.inputs.first(where: { scalar($0) != nil }), let epsilon = scalar(epsilonName),
                  let varianceName = plus.inputs.first(where: { $0 != epsilonName }), readBy(varianceName, 1),
                  let variance = producer(varianceName), let squareName = variance.inputs.first, readBy(squareName, 1),
                  let square = producer(squareName), square.op is Power, square.inputs.count == 2, scalar(square.inputs[1]) == 2,
                  let sub = binary(producer(div.inputs[0]), .sub), square.inputs[0] == sub.name, readBy(sub.name, 2),
                  readBy(sub.inputs[1], 1), let mean = producer(sub.inputs[1]), mean.inputs == [sub.inputs[0]],
                  let shape = shapes[sub.inputs[0]], let axes = trailingAxes(mean, rank: shape.count),
                  trailingAxes(variance, rank: shape.count) == axes else { continue }
            // The affine part: a Mul by the weight, then optionally an Add of the bias.
            let row = Array(shape.suffix(axes))
            let scaleReaders = nodes.filter { $0.inputs.contains(div.name) }
            guard let scaleNode = binary(scaleReaders.first, .mul), let weightName = scaleNode.inputs.first(where: { $0 != div.name }),
                  let weight = rowParameter(weightName, row: row), shapes[scaleNode.name] == shape else { continue }
            var last = scaleNode, shift: Parameter?
            if readBy(scaleNode.name, 1), let biasNode = binary(nodes.first { $0.inputs.contains(scaleNode.name) }, .add),
               let biasName = biasNode.inputs.first(where: { $0 != scaleNode.name }),
               let bias = rowParameter(biasName, row: row), shapes[biasNode.name] == shape {
                (last, shift) = (biasNode, bias)
                absorbed.insert(scaleNode.name)
            }
            absorbed.formUnion([div.name, sqrt.name, plus.name, variance.name, square.name, sub.name, mean.name])
            replacements[last.name] = Node(name: last.name, op: LayerNorm(scale: weight, shift: shift, axis: -axes, epsilon: epsilon),
                                           inputs: [sub.inputs[0]])
        }
        let rewritten = nodes.compactMap { absorbed.contains($0.name) ? nil : replacements[$0.name] ?? $0 }
        return try Graph(name: name, inputName: inputName, inputShape: inputShape, nodes: rewritten, outputName: outputName)
    }
}
