/// A pointwise activation as a node of its own.
public final class ActivationLayer: Operator {
    public let activation: Activation
    public var kind: String { activation.name }

    public init(_ activation: Activation) {
        self.activation = activation
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1 else { throw ShapeError("expects one input") }
        return inputShapes[0]
    }

    public func forward(_ inputs: [Tensor], into output: inout Tensor, context: ForwardContext) {
        let activation = activation
        inputs[0].scalars.withUnsafeBufferPointer { x in
            output.scalars.withUnsafeMutableBufferPointer { y in
                guard let xs = x.baseAddress, let ys = y.baseAddress else { return }
                parallelFor(x.count, cost: 1) { r in
                    activation.apply(xs + r.lowerBound, into: ys + r.lowerBound, count: r.count)
                }
            }
        }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let activation = activation
        let guided = activation == .relu && context.rule == .guided
        if activation == .relu && !guided { return [reluGradient(outputGradient, gate: inputs[0])] }
        var dx = outputGradient
        dx.scalars.withUnsafeMutableBufferPointer { g in
            inputs[0].scalars.withUnsafeBufferPointer { x in
                output.scalars.withUnsafeBufferPointer { y in
                    // The loops are split so that the common cases vectorize.
                    if guided {
                        for i in 0..<g.count { g[i] = x[i] > 0 && g[i] > 0 ? g[i] : 0 }
                    } else {
                        for i in 0..<g.count { g[i] *= activation.derivative(input: x[i], output: y[i]) }
                    }
                }
            }
        }
        return [dx]
    }
}
