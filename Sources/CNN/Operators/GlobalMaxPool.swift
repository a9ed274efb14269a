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
    private func argmax(_ x: UnsafePointer<Float>, shape: [Int]) -> [Int] {
        let plane = shape.dropFirst(2).reduce(1, *)
        return (0..<(shape[0] * shape[1])).map { p in
            var best = p * plane
            for i in p * plane..<(p + 1) * plane where x[i] > x[best] { best = i }
            return best
        }
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let (x, y) = (inputs[0].scalars, output.scalars)
        for (p, i) in argmax(UnsafePointer(x), shape: inputs[0].shape).enumerated() { y[p] = x[i] }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        var gradient = Tensor(zeros: inputs[0].shape)
        let positions = inputs[0].scalars.withUnsafeBufferPointer { argmax($0.baseAddress!, shape: inputs[0].shape) }
        for (p, i) in positions.enumerated() { gradient.scalars[i] = outputGradient.scalars[p] }
        return [gradient]
    }
}
