/// Averages each NCHW plane to one value: [N, C, H, W] -> [N, C, 1, 1].
public final class GlobalAvgPool: Operator {
    public let kind = "global_avgpool"

    public init() {}

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1, inputShapes[0].count >= 3 else {
            throw ShapeError("expects one input of rank 3 or more, got \(inputShapes)")
        }
        return Array(inputShapes[0].prefix(2)) + [Int](repeating: 1, count: inputShapes[0].count - 2)
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let plane = inputs[0].count / max(output.count, 1)
        let (x, y) = (inputs[0].scalars, output.scalars)
        parallelFor(output.count, cost: plane) { planes in
            for p in planes { y[p] = planeSum(x + p * plane, count: plane) / Float(plane) }
        }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let plane = inputs[0].count / max(output.count, 1)
        var dx = Tensor(zeros: inputs[0].shape)
        dx.scalars.withUnsafeMutableBufferPointer { d in
            for p in 0..<outputGradient.count {
                let share = outputGradient.scalars[p] / Float(plane)
                for i in 0..<plane { d[p * plane + i] = share }
            }
        }
        return [dx]
    }
}
