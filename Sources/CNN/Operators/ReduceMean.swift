/// Mean over a set of axes (all axes when none are given), keeping them as size 1 or dropping them.
public final class ReduceMean: Operator {
    public let kind = "reduce_mean"
    /// nil reduces every axis.
    public let axes: [Int]?
    public let keepsDimensions: Bool

    public init(axes: [Int]?, keepsDimensions: Bool = true) {
        self.axes = axes
        self.keepsDimensions = keepsDimensions
    }

    private func reducedAxes(rank: Int) throws -> Set<Int> {
        guard let axes else { return Set(0..<rank) }
        var set = Set<Int>()
        for axis in axes {
            guard axis >= -rank, axis < rank else { throw ShapeError("axis \(axis) is out of range for rank \(rank)") }
            set.insert(axis < 0 ? axis + rank : axis)
        }
        return set
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1 else { throw ShapeError("expects 1 input, got \(inputShapes.count)") }
        let shape = inputShapes[0]
        let reduced = try reducedAxes(rank: shape.count)
        return shape.enumerated().compactMap { axis, dim in
            reduced.contains(axis) ? (keepsDimensions ? 1 : nil) : dim
        }
    }

    /// For every input element, the output element it contributes to, and the reduction size.
    private func targets(for shape: [Int]) -> (targets: [Int], size: Int) {
        let reduced = try! reducedAxes(rank: shape.count)
        let kept = shape.enumerated().map { reduced.contains($0.offset) ? 1 : $0.element }
        let keptStrides = Tensor.strides(of: kept)
        var targets = [0]
        for axis in 0..<shape.count {
            let base = targets
            targets.removeAll(keepingCapacity: true)
            targets.reserveCapacity(base.count * shape[axis])
            let step = reduced.contains(axis) ? 0 : keptStrides[axis]
            for t in base {
                for j in 0..<shape[axis] { targets.append(t + j * step) }
            }
        }
        let size = reduced.reduce(1) { $0 * shape[$1] }
        return (targets, size)
    }

    /// The row length when the reduced axes are the trailing ones (LayerNorm spelled out over
    /// channels-last data): each output is the mean of one contiguous row.
    private func trailingRow(for shape: [Int]) -> Int? {
        let reduced = try! reducedAxes(rank: shape.count)
        guard !reduced.isEmpty, reduced == Set((shape.count - reduced.count)..<shape.count) else { return nil }
        return reduced.reduce(1) { $0 * shape[$1] }
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        if let row = trailingRow(for: inputs[0].shape), row > 0 {
            let (x, y) = (UnsafePointer(inputs[0].scalars), output.scalars)
            parallelFor(output.count, cost: row) { range in
                for r in range {
                    var sum: Float = 0
                    for i in 0..<row { sum += x[r * row + i] }
                    y[r] = sum / Float(row)
                }
            }
            return
        }
        let (targets, size) = targets(for: inputs[0].shape)
        let scale = 1 / Float(max(size, 1))
        let (x, y) = (inputs[0].scalars, output.buffer)
        y.update(repeating: 0)
        for (i, t) in targets.enumerated() { y[t] += x[i] }
        for i in 0..<y.count { y[i] *= scale }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        if let row = trailingRow(for: inputs[0].shape), row > 0 {
            return [Tensor(shape: inputs[0].shape) { dx in
                for (r, g) in outputGradient.scalars.enumerated() {
                    (dx.baseAddress! + r * row).update(repeating: g / Float(row), count: row)
                }
            }]
        }
        let (targets, size) = targets(for: inputs[0].shape)
        let scale = 1 / Float(max(size, 1))
        var gradient = Tensor(zeros: inputs[0].shape)
        outputGradient.scalars.withUnsafeBufferPointer { g in
            gradient.scalars.withUnsafeMutableBufferPointer { dx in
                for (i, t) in targets.enumerated() { dx[i] = g[t] * scale }
            }
        }
        return [gradient]
    }
}
