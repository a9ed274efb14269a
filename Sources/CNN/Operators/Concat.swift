/// Joins inputs along one axis (channels, for Inception and DenseNet blocks).
public final class Concat: Operator {
    public let kind = "concat"
    public let axis: Int

    public init(axis: Int = 1) {
        self.axis = axis
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard let first = inputShapes.first else { throw ShapeError("expects at least one input") }
        let a = axis < 0 ? axis + first.count : axis
        guard a >= 0 && a < first.count else { throw ShapeError("axis \(axis) out of range for \(first)") }
        var shape = first
        shape[a] = 0
        for s in inputShapes {
            var other = s
            guard s.count == first.count else { throw ShapeError("ranks differ: \(inputShapes)") }
            shape[a] += s[a]
            other[a] = shape[a]
            guard other == shape else { throw ShapeError("shapes differ off the concat axis: \(inputShapes)") }
        }
        return shape
    }

    /// (outer, inner) around the axis: blocks of `shape[axis] * inner` scalars repeat `outer` times.
    private func layout(_ shape: [Int]) -> (Int, Int) {
        let a = axis < 0 ? axis + shape.count : axis
        return (shape[..<a].reduce(1, *), shape[(a + 1)...].reduce(1, *))
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let (outer, inner) = layout(output.shape)
        let a = axis < 0 ? axis + output.rank : axis
        let rowLength = output.shape[a] * inner
        var start = 0
        for input in inputs {
            let block = input.shape[a] * inner
            for o in 0..<outer {
                copyInParallel(output.scalars + o * rowLength + start, from: input.scalars + o * block, count: block)
            }
            start += block
        }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let (outer, inner) = layout(output.shape)
        let a = axis < 0 ? axis + output.rank : axis
        let rowLength = output.shape[a] * inner
        var start = 0
        return inputs.map { input in
            let block = input.shape[a] * inner
            var dx = Tensor(zeros: input.shape)
            outputGradient.scalars.withUnsafeBufferPointer { g in
                dx.scalars.withUnsafeMutableBufferPointer { d in
                    for o in 0..<outer {
                        (d.baseAddress! + o * block).update(from: g.baseAddress! + o * rowLength + start, count: block)
                    }
                }
            }
            start += block
            return dx
        }
    }
}
