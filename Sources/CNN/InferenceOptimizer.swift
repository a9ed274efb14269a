/// Rewrites a graph for inference: a BatchNorm after a convolution is folded into the
/// convolution's weights and bias, and a ReLU or clip after a convolution or dense layer is
/// fused into its output pass. The result computes the same function in inference mode with
/// fewer passes over memory, and still supports backward (saliency). The original graph and
/// its parameters are left untouched, so training keeps its BatchNorm layers.
extension Graph {
    public func optimizedForInference() throws -> Graph {
        let readers = readerCounts()
        var nodes: [Node] = []
        var replaced: [String: Int] = [:]
        for node in self.nodes {
            guard node.inputs.count == 1, let index = replaced[node.inputs[0]] ?? nodes.lastIndex(where: { $0.name == node.inputs[0] }),
                  readers[node.inputs[0]] == 1, node.inputs[0] != outputName else {
                nodes.append(node)
                continue
            }
            let producer = nodes[index]
            if let fused = Graph.fuse(producer.op, then: node.op) {
                nodes[index] = Node(name: node.name, op: fused, inputs: producer.inputs)
                replaced[node.name] = index
            } else {
                nodes.append(node)
            }
        }
        return try Graph(name: name, inputName: inputName, inputShape: inputShape, nodes: nodes, outputName: outputName)
    }

    /// One operator doing the work of `first` followed by `second`, or nil when they do not fuse.
    private static func fuse(_ first: Operator, then second: Operator) -> Operator? {
        switch (first, second) {
        case let (conv as Conv2D, bn as BatchNorm) where conv.activation == nil && bn.channels == conv.outChannels:
            return conv.folding(bn)
        case let (conv as Conv2D, layer as ActivationLayer) where conv.activation == nil && layer.activation.isInvertibleFromOutput:
            return Conv2D(weight: conv.weight, bias: conv.bias, stride: conv.stride, dilation: conv.dilation,
                          padding: conv.padding, groups: conv.groups, activation: layer.activation)
        case let (dense as Dense, layer as ActivationLayer) where dense.activation == nil && layer.activation.isInvertibleFromOutput:
            return Dense(weight: dense.weight, bias: dense.bias, activation: layer.activation)
        default:
            return nil
        }
    }
}

extension Conv2D {
    /// This convolution with `bn` (inference statistics) folded in: w' = w * a, b' = (b - mean) * a + beta,
    /// with a = gamma / sqrt(var + eps) per output channel.
    func folding(_ bn: BatchNorm) -> Conv2D {
        let perChannel = weight.value.count / outChannels
        var w = weight.value
        var b = bias?.value.scalars ?? [Float](repeating: 0, count: outChannels)
        for c in 0..<outChannels {
            let a = bn.scale.value.scalars[c] / (bn.runningVariance.value.scalars[c] + bn.epsilon).squareRoot()
            for i in 0..<perChannel { w.scalars[c * perChannel + i] *= a }
            b[c] = (b[c] - bn.runningMean.value.scalars[c]) * a + bn.shift.value.scalars[c]
        }
        return Conv2D(weight: Parameter(name: weight.name, value: w),
                      bias: Parameter(name: bias?.name ?? "\(weight.name).folded_bias", value: Tensor(shape: [outChannels], scalars: b)),
                      stride: stride, dilation: dilation, padding: padding, groups: groups)
    }
}
