/// Rewrites a graph for inference: Dropout goes, a BatchNorm after a convolution is folded into the
/// convolution's weights and bias, any other BatchNorm becomes a per-channel affine pass, a
/// per-channel constant Mul or Add after either is folded in too, a residual Add of a
/// convolution's output is done by the convolution, x · sigmoid(x) becomes one SiLU, GELU's
/// five-node formula one GELU (Graph+GELU.swift) and a layer normalization spelled out one
/// LayerNorm (Graph+LayerNorm.swift), a channels-last stretch between Transposes runs
/// channels-first (Graph+ChannelsFirst.swift), an activation after a convolution (or an invertible one
/// after a dense layer or affine pass) is fused into its output pass, and squeeze-and-excitation
/// blocks become one operator. The result computes the same
/// function in inference mode with fewer passes over memory, and still supports backward
/// (saliency). The original graph and its parameters are left untouched, so training keeps
/// its BatchNorm layers.
extension Graph {
    public func optimizedForInference() throws -> Graph {
        // Folding first leaves convolutions right before the Adds; the ReLU after an Add fuses
        // only once the Add is part of the convolution.
        try withoutDropout().gatesFused().gelusFused().layerNormsFused().channelsFirst().producersFused().residualsFused().producersFused().excitationsFused()
    }

    /// Each squeeze-and-excitation block as exporters write it, x · gate(conv(act(conv(pool(x))))),
    /// the pool a GlobalAveragePool or a ReduceMean over the plane and the convolutions 1x1 with
    /// their activations fused, as one `SqueezeExcitation` node.
    private func excitationsFused() throws -> Graph {
        let readers = readerCounts()
        let shapes = try shapes(batch: 1)
        let position = Dictionary(uniqueKeysWithValues: nodes.enumerated().map { ($1.name, $0) })
        func producer(_ name: String) -> Node? { position[name].map { nodes[$0] } }
        func onlyRead(_ name: String) -> Bool { readers[name] == 1 && name != outputName }
        func pointwise(_ node: Node?) -> Conv2D? {
            guard let node, node.inputs.count == 1, let conv = node.op as? Conv2D, conv.isPointwise, conv.groups == 1
            else { return nil }
            return conv
        }
        var absorbed = Set<String>()
        var replacements: [String: Node] = [:]
        for node in nodes {
            guard let mul = node.op as? Elementwise, mul.operation == .mul, node.inputs.count == 2 else { continue }
            for (gateName, x) in [(node.inputs[1], node.inputs[0]), (node.inputs[0], node.inputs[1])] {
                guard let shape = shapes[x], shape.count == 4, shapes[gateName] == [1, shape[1], 1, 1],
                      onlyRead(gateName), let expandNode = producer(gateName), let expand = pointwise(expandNode),
                      onlyRead(expandNode.inputs[0]), let reduceNode = producer(expandNode.inputs[0]),
                      let reduce = pointwise(reduceNode), onlyRead(reduceNode.inputs[0]),
                      let poolNode = producer(reduceNode.inputs[0]), poolNode.inputs == [x],
                      Graph.poolsWholePlanes(poolNode.op) else { continue }
                absorbed.formUnion([gateName, reduceNode.name, poolNode.name])
                replacements[node.name] = Node(name: node.name, op: SqueezeExcitation(reduce: reduce, expand: expand), inputs: [x])
                break
            }
        }
        let rewritten = nodes.compactMap { absorbed.contains($0.name) ? nil : replacements[$0.name] ?? $0 }
        return try Graph(name: name, inputName: inputName, inputShape: inputShape, nodes: rewritten, outputName: outputName)
    }

    /// Whether `op` averages each NCHW plane to one value, keeping the axes.
    private static func poolsWholePlanes(_ op: Operator) -> Bool {
        if op is GlobalAvgPool { return true }
        guard let mean = op as? ReduceMean, mean.keepsDimensions, let axes = mean.axes else { return false }
        return Set(axes.map { $0 < 0 ? $0 + 4 : $0 }) == [2, 3]
    }

    /// Each x · sigmoid(x) (SiLU, as exporters write EfficientNet's swish) and x · hard_sigmoid(x)
    /// with hard swish's slope and offset (older exports of MobileNetV3) as one activation
    /// layer, which a convolution before it then absorbs: one pass over the tensor instead of two
    /// and a copy kept alive for the Mul.
    private func gatesFused() throws -> Graph {
        let readers = readerCounts()
        let position = Dictionary(uniqueKeysWithValues: nodes.enumerated().map { ($1.name, $0) })
        var gates = Set<String>()
        var replacements: [String: Node] = [:]
        for node in nodes {
            guard let mul = node.op as? Elementwise, mul.operation == .mul, node.inputs.count == 2 else { continue }
            for (gateName, x) in [(node.inputs[1], node.inputs[0]), (node.inputs[0], node.inputs[1])] {
                guard let index = position[gateName], nodes[index].inputs == [x], readers[gateName] == 1,
                      gateName != outputName, let gate = nodes[index].op as? ActivationLayer,
                      let fused = Graph.gated(gate.activation) else { continue }
                gates.insert(gateName)
                replacements[node.name] = Node(name: node.name, op: ActivationLayer(fused), inputs: [x])
                break
            }
        }
        let rewritten = nodes.compactMap { gates.contains($0.name) ? nil : replacements[$0.name] ?? $0 }
        return try Graph(name: name, inputName: inputName, inputShape: inputShape, nodes: rewritten, outputName: outputName)
    }

    /// The activation x · gate(x) is, where it is one.
    private static func gated(_ gate: Activation) -> Activation? {
        switch gate {
        case .sigmoid: return .silu
        case let .hardSigmoid(alpha, beta) where abs(alpha - 1 / 6) < 1e-6 && beta == 0.5: return .hardSwish
        default: return nil
        }
    }

    /// The graph with each Dropout (an identity in inference, but a copy of its input) taken
    /// out, its readers reading its input instead; one that is the graph's output stays.
    private func withoutDropout() throws -> Graph {
        var source: [String: String] = [:]
        for node in nodes where node.op is Dropout && node.name != outputName && node.inputs.count == 1 {
            source[node.name] = source[node.inputs[0]] ?? node.inputs[0]
        }
        let rewritten = nodes.compactMap { node in
            source[node.name] == nil ? Node(name: node.name, op: node.op, inputs: node.inputs.map { source[$0] ?? $0 }) : nil
        }
        return try Graph(name: name, inputName: inputName, inputShape: inputShape, nodes: rewritten, outputName: outputName)
    }

    /// Each node that only transforms the output of the one before it fused into that node.
    private func producersFused() throws -> Graph {
        let readers = readerCounts()
        let shapes = try shapes(batch: 1)
        var constants: [String: Tensor] = [:]
        for node in self.nodes { if let constant = node.op as? Constant { constants[node.name] = constant.value } }
        var nodes: [Node] = []
        var replaced: [String: Int] = [:]
        for node in self.nodes {
            // A per-channel constant operand (a Mul or Add after a BatchNorm) rides along with
            // the node; the node then has one data input like the others.
            let data = node.inputs.filter { constants[$0] == nil }
            let operand = node.inputs.count == 2 && data.count == 1
                ? node.inputs.first { constants[$0] != nil }.flatMap { constants[$0] } : nil
            guard data.count == 1, node.inputs.count == 1 || operand != nil,
                  let index = replaced[data[0]] ?? nodes.lastIndex(where: { $0.name == data[0] }),
                  readers[data[0]] == 1, data[0] != outputName else {
                nodes.append(Graph.standalone(node))
                continue
            }
            let producer = nodes[index]
            // Scaling a convolution's weights would scale the residual it adds too.
            guard producer.inputs.count == 1 || node.op is ActivationLayer else {
                nodes.append(Graph.standalone(node))
                continue
            }
            let perChannel = operand.flatMap { Graph.perChannel($0, of: shapes[data[0]] ?? []) }
            if operand == nil || perChannel != nil, let fused = Graph.fuse(producer.op, then: node.op, operand: perChannel) {
                nodes[index] = Node(name: node.name, op: fused, inputs: producer.inputs)
                replaced[node.name] = index
            } else {
                nodes.append(Graph.standalone(node))
            }
        }
        // Constants folded into the operators above would otherwise still be copied every run.
        let read = Set(nodes.flatMap(\.inputs) + [outputName])
        nodes.removeAll { $0.op is Constant && !read.contains($0.name) }
        return try Graph(name: name, inputName: inputName, inputShape: inputShape, nodes: nodes, outputName: outputName)
    }

    /// Each Add of a convolution's output and another tensor of its shape (a residual
    /// connection) done by the convolution as it finishes its output, saving a pass over both
    /// (ResNet-50: 16 Adds of up to 3 MB each). Where both operands are convolutions, the later
    /// one absorbs the Add, so that the earlier one's output is ready when it runs.
    private func residualsFused() throws -> Graph {
        let readers = readerCounts()
        let shapes = try shapes(batch: 1)
        let position = Dictionary(uniqueKeysWithValues: nodes.enumerated().map { ($1.name, $0) })
        var absorbed = Set<String>()
        var replacements: [String: Node] = [:]
        for node in nodes {
            guard let add = node.op as? Elementwise, add.operation == .add, node.inputs.count == 2,
                  node.inputs[0] != node.inputs[1], shapes[node.inputs[0]] == shapes[node.inputs[1]] else { continue }
            let convolutions = node.inputs.filter { name in
                guard let i = position[name], let conv = nodes[i].op as? Conv2D else { return false }
                return conv.activation == nil && nodes[i].inputs.count == 1 && readers[name] == 1 && name != outputName
            }
            guard let fused = convolutions.max(by: { position[$0]! < position[$1]! }) else { continue }
            let conv = nodes[position[fused]!]
            let residual = node.inputs.first { $0 != fused }!
            absorbed.insert(fused)
            replacements[node.name] = Node(name: node.name, op: conv.op, inputs: conv.inputs + [residual])
        }
        let rewritten = nodes.compactMap { absorbed.contains($0.name) ? nil : replacements[$0.name] ?? $0 }
        return try Graph(name: name, inputName: inputName, inputShape: inputShape, nodes: rewritten, outputName: outputName)
    }

    /// `node` as inference runs it alone: a BatchNorm no convolution absorbed becomes a
    /// per-channel affine pass that what follows it can fuse into.
    private static func standalone(_ node: Node) -> Node {
        guard let bn = node.op as? BatchNorm else { return node }
        let (a, b) = bn.inferenceAffine
        return Node(name: node.name, op: ChannelAffine(scale: a, shift: b), inputs: node.inputs)
    }

    /// The scalars of `operand` when it broadcasts against `shape` along axis 1 only.
    private static func perChannel(_ operand: Tensor, of shape: [Int]) -> [Float]? {
        guard shape.count >= 2, operand.rank <= shape.count else { return nil }
        let padded = [Int](repeating: 1, count: shape.count - operand.rank) + operand.shape
        let fits = padded.enumerated().allSatisfy { $0.offset == 1 ? $0.element == shape[1] : $0.element == 1 }
        return fits ? operand.scalars : nil
    }

    /// One operator doing the work of `first` followed by `second`, or nil when they do not fuse.
    /// `operand` is the per-channel constant of an elementwise `second`.
    private static func fuse(_ first: Operator, then second: Operator, operand: [Float]?) -> Operator? {
        if let operand, let op = second as? Elementwise {
            let ones = [Float](repeating: 1, count: operand.count), zeros = [Float](repeating: 0, count: operand.count)
            let (factor, offset) = op.operation == .mul ? (operand, zeros) : (ones, operand)
            guard op.operation == .mul || op.operation == .add else { return nil }
            switch first {
            case let conv as Conv2D where conv.activation == nil && conv.outChannels == operand.count:
                return conv.followed(byScale: factor, shift: offset)
            case let affine as ChannelAffine where affine.activation == nil:
                return affine.then(scale: factor, shift: offset)
            default:
                return nil
            }
        }
        switch (first, second) {
        case let (conv as Conv2D, bn as BatchNorm) where conv.activation == nil && bn.channels == conv.outChannels:
            let (a, b) = bn.inferenceAffine
            return conv.followed(byScale: a, shift: b)
        case let (conv as Conv2D, layer as ActivationLayer) where conv.activation == nil:
            // A convolution keeps its activation's argument for backward where the output does not give it.
            return Conv2D(weight: conv.weight, bias: conv.bias, stride: conv.stride, dilation: conv.dilation,
                          padding: conv.padding, groups: conv.groups, activation: layer.activation)
        case let (dense as Dense, layer as ActivationLayer) where dense.activation == nil && layer.activation.isInvertibleFromOutput:
            return Dense(weight: dense.weight, bias: dense.bias, activation: layer.activation,
                         appliesToLastAxis: dense.appliesToLastAxis)
        case let (affine as ChannelAffine, layer as ActivationLayer) where affine.activation == nil && layer.activation.isInvertibleFromOutput:
            return ChannelAffine(scale: affine.scale, shift: affine.shift, activation: layer.activation)
        default:
            return nil
        }
    }
}

extension Conv2D {
    /// This convolution followed by y * scale + shift per output channel (an inference
    /// BatchNorm, or a Caffe Scale layer): w' = w * scale, b' = b * scale + shift.
    func followed(byScale scale: [Float], shift: [Float]) -> Conv2D {
        let perChannel = weight.value.count / outChannels
        var w = weight.value
        var b = bias?.value.scalars ?? [Float](repeating: 0, count: outChannels)
        for c in 0..<outChannels {
            for i in 0..<perChannel { w.scalars[c * perChannel + i] *= scale[c] }
            b[c] = b[c] * scale[c] + shift[c]
        }
        return Conv2D(weight: Parameter(name: weight.name, value: w),
                      bias: Parameter(name: bias?.name ?? "\(weight.name).folded_bias", value: Tensor(shape: [outChannels], scalars: b)),
                      stride: stride, dilation: dilation, padding: padding, groups: groups)
    }
}
