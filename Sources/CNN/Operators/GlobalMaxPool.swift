/// Maximum over all spatial positions of each channel: [N, C, spatial...] -> [N, C, 1, ...].
/// The gradient goes to the first position holding the maximum.
public final class GlobalMaxPool: Operator {
    public let kind = "global_maxpool"

    public init() {}

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1 else { throw ShapeError("expects 1 input, got \(inputShapes.count)") }
        let shape = inputShapes[0]
        guard shape.count >= 3 else { throw ShapeError("expects [N, C, spatial...], got \(shape)") }
        guard shape.dropFirst(2).allSatisfy({ $0 > 0 }) else { throw ShapeError("empty spatial extent in \(shape)") }
        return [shape[0], shape[1]] + [Int](repeating: 1, count: shape.count - 2)
    }

    /// The flat offset of each channel's first maximum.
    private func argmax(_ input: Tensor) -> [Int] {
        let plane = input.shape.dropFirst(2).reduce(1, *)
        let planes = input.shape[0] * input.shape[1]
        return input.scalars.withUnsafeBufferPointer { x in
            (0..<planes).map { p in
                var best = p * plane
                for i in p * plane..<(p + 1) * plane where x[i] > x[best] { best = i }
                return best
            }
        }
    }

    public func forward(_ inputs: [Tensor], into output: inout Tensor, context: ForwardContext) {
        let positions = argmax(inputs[0])
        inputs[0].scalars.withUnsafeBufferPointer { x in
            output.scalars.withUnsafeMutableBufferPointer { y in
                for (p, i) in positions.enumerated() { y[p] = x[i] }
            }
        }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        var gradient = Tensor(zeros: inputs[0].shape)
        for (p, i) in argmax(inputs[0]).enumerated() { gradient.scalars[i] = outputGradient.scalars[p] }
        return [gradient]
    }
}
