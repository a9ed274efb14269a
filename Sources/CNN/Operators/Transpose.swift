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

    public func forward(_ inputs: [Tensor], into output: inout Tensor, context: ForwardContext) {
        Transpose.permute(inputs[0], permutation, into: &output)
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        var inverse = [Int](repeating: 0, count: permutation.count)
        for (i, p) in permutation.enumerated() { inverse[p] = i }
        var dx = Tensor(zeros: inputs[0].shape)
        Transpose.permute(outputGradient, inverse, into: &dx)
        return [dx]
    }

    static func permute(_ x: Tensor, _ permutation: [Int], into output: inout Tensor) {
        let rank = x.rank
        let inStrides = x.strides
        let outShape = output.shape
        let gathered = permutation.map { inStrides[$0] }
        var index = [Int](repeating: 0, count: rank)
        x.scalars.withUnsafeBufferPointer { src in
            output.scalars.withUnsafeMutableBufferPointer { dst in
                var offset = 0
                for o in 0..<dst.count {
                    dst[o] = src[offset]
                    // Odometer increment over the output index, tracking the input offset.
                    var axis = rank - 1
                    while axis >= 0 {
                        index[axis] += 1
                        offset += gathered[axis]
                        if index[axis] < outShape[axis] { break }
                        offset -= gathered[axis] * outShape[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
    }
}
