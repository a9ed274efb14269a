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

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let (activation, x, y) = (activation, inputs[0].scalars, output.scalars)
        parallelFor(inputs[0].count, cost: 1) { r in
            activation.apply(x + r.lowerBound, into: y + r.lowerBound, count: r.count)
        }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let activation = activation
        let guided = activation == .relu && context.rule == .guided
        if activation == .relu && !guided { return [reluGradient(outputGradient, gate: inputs[0])] }
        var dx = outputGradient
        guard guided else {
            activation.backpropagate(&dx, input: inputs[0])
            return [dx]
        }
        dx.scalars.withUnsafeMutableBufferPointer { g in
            inputs[0].scalars.withUnsafeBufferPointer { x in
                for i in 0..<g.count { g[i] = x[i] > 0 && g[i] > 0 ? g[i] : 0 }
            }
        }
        return [dx]
    }
}
