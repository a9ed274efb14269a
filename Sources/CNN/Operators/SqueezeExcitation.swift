/// Squeeze-and-excitation (Hu et al. 2018) as one operator: each channel's plane is averaged,
/// the averages pass through a reducing and an expanding 1x1 convolution (each with its
/// activation, the second's a gate such as a sigmoid), and every plane is scaled by its gate.
///
/// The inference optimizer puts it in place of the GlobalAveragePool, Conv, Conv and Mul that
/// exporters write (EfficientNet, MobileNetV3, RegNetY, MnasNet's descendants): those ran as four
/// nodes and two passes over the large tensor besides the pooling (the broadcast Mul copied its
/// input, then scaled it in place); here the pooling reads it and the scale reads and writes it
/// once, split across the threads.
public final class SqueezeExcitation: Operator {
    public let kind = "squeeze_excitation"
    /// [hidden, channels, 1, 1] with its activation.
    public let reduce: Conv2D
    /// [channels, hidden, 1, 1] with the gate activation.
    public let expand: Conv2D

    public var parameters: [Parameter] { reduce.parameters + expand.parameters }

    public init(reduce: Conv2D, expand: Conv2D) {
        precondition(reduce.kernel == (1, 1) && expand.kernel == (1, 1), "squeeze-and-excitation takes 1x1 convolutions")
        self.reduce = reduce
        self.expand = expand
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1, inputShapes[0].count == 4 else { throw ShapeError("expects one NCHW input, got \(inputShapes)") }
        let shape = inputShapes[0]
        let pooled = [shape[0], shape[1], 1, 1]
        guard try expand.outputShape(for: [try reduce.outputShape(for: [pooled])]) == pooled else {
            throw ShapeError("the convolutions \(reduce.weight.value.shape) and \(expand.weight.value.shape) do not map \(shape[1]) channels back to \(shape[1])")
        }
        return shape
    }

    /// What backward reads: the pooled input, the hidden layer and the gates.
    private struct Saved {
        let pooled: Tensor
        let hidden: Tensor
        let gate: Tensor
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let x = inputs[0]
        let (planes, plane) = (x.shape[0] * x.shape[1], x.shape[2] * x.shape[3])
        let (xs, ys) = (x.scalars, output.scalars)
        let pooled = Tensor(shape: [x.shape[0], x.shape[1], 1, 1]) { p in
            parallelFor(planes, cost: plane) { range in
                for q in range { p[q] = planeSum(xs + q * plane, count: plane) / Float(plane) }
            }
        }
        var hidden = Tensor(unfilledShape: [x.shape[0], reduce.outChannels, 1, 1])
        reduce.forward([pooled], into: &hidden, context: context)
        var gate = Tensor(unfilledShape: pooled.shape)
        expand.forward([hidden], into: &gate, context: context)
        gate.scalars.withUnsafeBufferPointer { g in
            parallelFor(planes, cost: plane) { range in
                for q in range {
                    let (source, target, scale) = (xs + q * plane, ys + q * plane, g[q])
                    for i in 0..<plane { target[i] = source[i] * scale }
                }
            }
        }
        if context.keepsForBackward { context.saved[ObjectIdentifier(self)] = Saved(pooled: pooled, hidden: hidden, gate: gate) }
    }

    /// dx = gy ⊙ gate + (d pooled) / plane, d pooled coming back through both convolutions from
    /// d gate = Σ over the plane of gy ⊙ x.
    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        guard let saved = context.saved(for: self, as: Saved.self) else {
            preconditionFailure("squeeze-and-excitation backward needs a forward pass that kept its state")
        }
        let x = inputs[0]
        let (planes, plane) = (x.shape[0] * x.shape[1], x.shape[2] * x.shape[3])
        let dGate = Tensor(shape: saved.gate.shape) { d in
            x.scalars.withUnsafeBufferPointer { xs in
                outputGradient.scalars.withUnsafeBufferPointer { gs in
                    parallelFor(planes, cost: 2 * plane) { range in
                        for q in range { d[q] = planeDot(xs.baseAddress! + q * plane, gs.baseAddress! + q * plane, count: plane) }
                    }
                }
            }
        }
        // The convolutions' own parameters may train while nothing before this node wants a gradient.
        let wanted = context.needsInputGradients
        context.needsInputGradients = true
        defer { context.needsInputGradients = wanted }
        let dHidden = expand.backward([saved.hidden], output: saved.gate, outputGradient: dGate, context: context)[0]!
        let dPooled = reduce.backward([saved.pooled], output: saved.hidden, outputGradient: dHidden, context: context)[0]!
        guard wanted else { return [nil] }
        let dx = Tensor(shape: x.shape) { d in
            outputGradient.scalars.withUnsafeBufferPointer { gs in
                saved.gate.scalars.withUnsafeBufferPointer { g in
                    dPooled.scalars.withUnsafeBufferPointer { dp in
                        parallelFor(planes, cost: plane) { range in
                            for q in range {
                                let (source, target) = (gs.baseAddress! + q * plane, d.baseAddress! + q * plane)
                                let (scale, shift) = (g[q], dp[q] / Float(plane))
                                for i in 0..<plane { target[i] = source[i] * scale + shift }
                            }
                        }
                    }
                }
            }
        }
        return [dx]
    }
}
