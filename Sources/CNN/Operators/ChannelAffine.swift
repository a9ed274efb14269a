/// y = activation(scale[c] * x + shift[c]) over axis 1 of [N, C, ...] input.
///
/// The inference optimizer leaves this in place of a BatchNorm that follows no convolution
/// (DenseNet's BN -> ReLU -> Conv), absorbing the per-channel Mul and Add and the activation
/// that follow it (Caffe's Scale layer), so that the chain costs one pass over memory instead
/// of one per node. Backward stays exact, for saliency on optimized graphs.
final class ChannelAffine: Operator {
    let kind = "channel_affine"
    let scale: [Float]
    let shift: [Float]
    let activation: Activation?

    init(scale: [Float], shift: [Float], activation: Activation? = nil) {
        precondition(scale.count == shift.count, "scale and shift differ in size")
        self.scale = scale
        self.shift = shift
        self.activation = activation
    }

    var channels: Int { scale.count }

    /// This affine map followed by y * factor + offset per channel.
    func then(scale factor: [Float], shift offset: [Float]) -> ChannelAffine {
        ChannelAffine(scale: zip(scale, factor).map(*),
                      shift: (0..<channels).map { shift[$0] * factor[$0] + offset[$0] })
    }

    func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1, inputShapes[0].count >= 2, inputShapes[0][1] == channels else {
            throw ShapeError("expects [N, \(channels), ...] input, got \(inputShapes)")
        }
        return inputShapes[0]
    }

    func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let x = inputs[0]
        let inner = x.count / max(x.shape[0] * channels, 1)
        let (xs, ys) = (x.scalars, output.scalars)
        parallelFor(x.shape[0] * channels, cost: 2 * inner) { rows in
            for row in rows {
                let (a, b) = (scale[row % channels], shift[row % channels])
                let (src, dst) = (xs + row * inner, ys + row * inner)
                for i in 0..<inner { dst[i] = a * src[i] + b }
                activation?.apply(dst, into: dst, count: inner)
            }
        }
    }

    func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                  context: BackwardContext) -> [Tensor?] {
        var dx = outputGradient
        activation?.backpropagate(&dx, output: output, rule: context.rule)
        let inner = dx.count / max(dx.shape[0] * channels, 1)
        dx.scalars.withUnsafeMutableBufferPointer { g in
            for row in 0..<dx.shape[0] * channels {
                let a = scale[row % channels]
                for i in row * inner..<(row + 1) * inner { g[i] *= a }
            }
        }
        return [dx]
    }
}
