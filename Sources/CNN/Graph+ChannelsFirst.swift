/// Channels-last stretches between two Transposes run channels-first instead. ConvNeXt (and
/// the models that copy its block) transposes NCHW to NHWC, normalizes the last axis, applies
/// Linear layers and activations over it, and transposes back: two copies of the tensor per
/// block, and a layer scale and a residual Add after the second Transpose that nothing can fuse.
/// Each of those operators has an NCHW equivalent that computes the same values: LayerNorm over
/// the last axis is `ChannelNorm`, a Linear layer over the last axis is a 1x1 convolution, an
/// activation is itself. Rewritten that way the Transposes go, and the later passes fuse the
/// activation, the layer scale and the residual into the second convolution.
extension Graph {
    /// Each Transpose to channels-last ([0, 2, 3, 1]) followed by a chain of such operators, each
    /// read only by the next, and a Transpose back ([0, 3, 1, 2]), replaced by the chain's NCHW
    /// equivalents; the last takes the second Transpose's name, so its readers are unchanged.
    func channelsFirst() throws -> Graph {
        let readers = readerCounts()
        let shapes = try shapes(batch: 1)
        let position = Dictionary(uniqueKeysWithValues: nodes.enumerated().map { ($1.name, $0) })
        func onlyRead(_ name: String) -> Bool { readers[name] == 1 && name != outputName }
        func transpose(_ node: Node, _ permutation: [Int]) -> Bool {
            (node.op as? Transpose)?.permutation == permutation && node.inputs.count == 1
        }
        // Who reads each node, for walking a chain forward.
        var reader: [String: Node] = [:]
        for node in nodes { for input in node.inputs { reader[input] = node } }

        var removed = Set<String>()
        var replacements: [String: Node] = [:]
        for start in nodes where transpose(start, [0, 2, 3, 1]) && shapes[start.inputs[0]]?.count == 4 && onlyRead(start.name) {
            var chain: [(node: Node, op: Operator)] = []
            var current = start.name
            var end: Node?
            while onlyRead(current), let next = reader[current], next.inputs == [current] {
                if transpose(next, [0, 3, 1, 2]) {
                    end = next
                    break
                }
                guard let op = Graph.channelsFirst(next.op) else { break }
                chain.append((next, op))
                current = next.name
            }
            guard let end, !chain.isEmpty, position[end.name] != nil else { continue }
            var input = start.inputs[0]
            for (index, link) in chain.enumerated() {
                let name = index == chain.count - 1 ? end.name : link.node.name
                replacements[link.node.name] = Node(name: name, op: link.op, inputs: [input])
                input = name
            }
            removed.formUnion([start.name, end.name])
        }
        let rewritten = nodes.compactMap { removed.contains($0.name) ? nil : replacements[$0.name] ?? $0 }
        return try Graph(name: name, inputName: inputName, inputShape: inputShape, nodes: rewritten, outputName: outputName)
    }

    /// The operator computing on NCHW what `op` computes on the same tensor in NHWC, or nil.
    private static func channelsFirst(_ op: Operator) -> Operator? {
        switch op {
        case let norm as LayerNorm where norm.axis == -1:
            return ChannelNorm(scale: norm.scale, shift: norm.shift, epsilon: norm.epsilon)
        case let dense as Dense where dense.appliesToLastAxis:
            let weight = Parameter(name: dense.weight.name,
                                   value: dense.weight.value.reshaped(to: [dense.outFeatures, dense.inFeatures, 1, 1]),
                                   isTrainable: dense.weight.isTrainable)
            return Conv2D(weight: weight, bias: dense.bias, activation: dense.activation)
        case let layer as ActivationLayer:
            return layer
        default:
            return nil
        }
    }
}
