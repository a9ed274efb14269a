/// Permutes the axes: output axis i is input axis `permutation[i]`.
public final class Transpose: Operator {
    public let kind = "transpose"
    public let permutation: [Int]

    public init(permutation: [Int]) {
        self.permutation = permutation
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1 else { throw ShapeError("expects one input") }
        let shape = inputShapes[0]
        guard permutation.sorted() == Array(0..<shape.count) else {
            throw ShapeError("permutation \(permutation) does not fit rank \(shape.count)")
        }
        return permutation.map { shape[$0] }
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        Transpose.permute(inputs[0], permutation, into: output)
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        var inverse = [Int](repeating: 0, count: permutation.count)
        for (i, p) in permutation.enumerated() { inverse[p] = i }
        var dx = Tensor(zeros: inputs[0].shape)
        withViews(of: [outputGradient]) { g in dx.withView { Transpose.permute(g[0], inverse, into: $0) } }
        return [dx]
    }

    /// Trailing axes the permutation leaves in place stay contiguous, so only the leading axes are
    /// walked and whole blocks are copied: a channel shuffle ([N, g, C/g, H, W] with
    /// axes 1 and 2 swapped) then moves H * W scalars per step instead of one.
    static func permute(_ x: TensorView, _ permutation: [Int], into output: TensorView) {
        var kept = x.rank
        while kept > 0 && permutation[kept - 1] == kept - 1 { kept -= 1 }
        let block = x.shape[kept...].reduce(1, *)
        let inStrides = Tensor.strides(of: x.shape)
        let sources = Broadcast.stridedOffsets(shape: Array(output.shape[..<kept]),
                                               strides: permutation[..<kept].map { inStrides[$0] })
        guard block > 0 else { return }
        let (from, to) = (x.scalars, output.scalars)
        parallelFor(sources.count, cost: block) { steps in
            for step in steps {
                (to + step * block).update(from: from + sources[step], count: block)
            }
        }
    }
}
