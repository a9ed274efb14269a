/// Picks entries along one axis by a fixed index tensor (ONNX Gather with constant indices):
/// the output shape is data[..<axis] + indices + data[(axis + 1)...]. Negative indices count
/// from the end of the axis.
public final class Gather: Operator {
    public let kind = "gather"
    public let axis: Int
    public let indices: [Int]
    public let indicesShape: [Int]

    public init(axis: Int, indices: [Int], indicesShape: [Int]) {
        precondition(indicesShape.reduce(1, *) == indices.count, "indices do not fill shape \(indicesShape)")
        self.axis = axis
        self.indices = indices
        self.indicesShape = indicesShape
    }

    private func resolvedAxis(rank: Int) throws -> Int {
        guard axis >= -rank, axis < rank else { throw ShapeError("axis \(axis) is out of range for rank \(rank)") }
        return axis < 0 ? axis + rank : axis
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1 else { throw ShapeError("expects 1 input, got \(inputShapes.count)") }
        let shape = inputShapes[0]
        let axis = try resolvedAxis(rank: shape.count)
        let dim = shape[axis]
        if let bad = indices.first(where: { $0 < -dim || $0 >= dim }) {
            throw ShapeError("index \(bad) is out of range for axis \(axis) of size \(dim)")
        }
        return Array(shape[..<axis]) + indicesShape + Array(shape[(axis + 1)...])
    }

    /// The data viewed as [outer, dim, inner] around the gathered axis.
    private func blocks(_ shape: [Int]) -> (outer: Int, dim: Int, inner: Int) {
        let axis = try! resolvedAxis(rank: shape.count)
        return (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let (outer, dim, inner) = blocks(inputs[0].shape)
        let (count, x, y) = (indices.count, inputs[0].scalars, output.scalars)
        for o in 0..<outer {
            for (j, raw) in indices.enumerated() {
                let index = raw < 0 ? raw + dim : raw
                (y + (o * count + j) * inner).update(from: x + (o * dim + index) * inner, count: inner)
            }
        }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let (outer, dim, inner) = blocks(inputs[0].shape)
        let count = indices.count
        var gradient = Tensor(zeros: inputs[0].shape)
        outputGradient.scalars.withUnsafeBufferPointer { g in
            gradient.scalars.withUnsafeMutableBufferPointer { dx in
                for o in 0..<outer {
                    for (j, raw) in indices.enumerated() {
                        let index = raw < 0 ? raw + dim : raw
                        let target = (o * dim + index) * inner
                        let source = (o * count + j) * inner
                        for e in 0..<inner { dx[target + e] += g[source + e] }
                    }
                }
            }
        }
        return [gradient]
    }
}
