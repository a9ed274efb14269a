/// Inverted dropout: in training each element is zeroed with probability `rate` and the
/// survivors scaled by 1 / (1 - rate); in inference it is the identity.
public final class Dropout: Operator {
    public let kind = "dropout"
    public let rate: Float

    public init(rate: Float) {
        self.rate = rate
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1 else { throw ShapeError("expects one input") }
        guard rate >= 0 && rate < 1 else { throw ShapeError("rate \(rate) must be in [0, 1)") }
        return inputShapes[0]
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let (x, y) = (inputs[0].scalars, output.scalars)
        guard context.isTraining, rate > 0 else {
            y.update(from: x, count: output.count)
            return
        }
        let keep = 1 / (1 - rate)
        var mask = [Float](repeating: 0, count: inputs[0].count)
        for i in 0..<mask.count where context.random.nextUniform() >= rate { mask[i] = keep }
        for i in 0..<mask.count { y[i] = x[i] * mask[i] }
        context.saved[ObjectIdentifier(self)] = mask
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        guard let mask = context.saved(for: self, as: [Float].self) else { return [outputGradient] }
        var dx = outputGradient
        for i in 0..<mask.count { dx.scalars[i] *= mask[i] }
        return [dx]
    }
}
