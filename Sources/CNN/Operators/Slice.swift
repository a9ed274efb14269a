/// Strided slicing with ONNX semantics: negative starts and ends count from the end of the
/// axis, out-of-range bounds clamp, and negative steps walk backwards.
///
/// Bounds are resolved against the actual input shape at run time, so a slice along the
/// batch axis follows whatever batch the executor runs.
public final class Slice: Operator {
    public let kind = "slice"
    public let starts: [Int]
    public let ends: [Int]
    public let axes: [Int]
    public let steps: [Int]

    /// `axes` defaults to the first `starts.count` axes and `steps` to all ones.
    public init(starts: [Int], ends: [Int], axes: [Int]? = nil, steps: [Int]? = nil) {
        self.starts = starts
        self.ends = ends
        self.axes = axes ?? Array(0..<starts.count)
        self.steps = steps ?? [Int](repeating: 1, count: starts.count)
    }

    /// Per axis of the input: first index, step and number of elements taken.
    struct Ranges {
        var first: [Int]
        var step: [Int]
        var count: [Int]
    }

    func ranges(for shape: [Int]) throws -> Ranges {
        guard starts.count == ends.count, starts.count == axes.count, starts.count == steps.count else {
            throw ShapeError("starts, ends, axes and steps must have equal lengths")
        }
        var ranges = Ranges(first: [Int](repeating: 0, count: shape.count), step: [Int](repeating: 1, count: shape.count),
                            count: shape)
        var seen = Set<Int>()
        for (i, rawAxis) in axes.enumerated() {
            guard rawAxis >= -shape.count, rawAxis < shape.count else {
                throw ShapeError("axis \(rawAxis) is out of range for rank \(shape.count)")
            }
            let axis = rawAxis < 0 ? rawAxis + shape.count : rawAxis
            guard seen.insert(axis).inserted else { throw ShapeError("axis \(axis) is sliced twice") }
            guard steps[i] != 0 else { throw ShapeError("step 0 on axis \(axis)") }
            // Any step longer than the axis takes one element; bounding it keeps the arithmetic exact.
            let step = max(min(steps[i], Int(Int32.max)), -Int(Int32.max))
            let dim = shape[axis]
            var start = starts[i] < 0 ? starts[i].addingReportingOverflow(dim).partialValue : starts[i]
            var end = ends[i] < 0 ? ends[i].addingReportingOverflow(dim).partialValue : ends[i]
            if step > 0 {
                start = min(max(start, 0), dim)
                end = min(max(end, 0), dim)
                ranges.count[axis] = end > start ? (end - start + step - 1) / step : 0
            } else {
                start = min(max(start, -1), dim - 1)
                end = min(max(end, -1), dim - 1)
                ranges.count[axis] = start > end ? (start - end - step - 1) / -step : 0
            }
            ranges.first[axis] = start
            ranges.step[axis] = step
        }
        return ranges
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1 else { throw ShapeError("expects 1 input, got \(inputShapes.count)") }
        return try ranges(for: inputShapes[0]).count
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let (x, y) = (inputs[0].scalars, output.scalars)
        for (i, offset) in sourceOffsets(for: inputs[0].shape).enumerated() { y[i] = x[offset] }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        var gradient = Tensor(zeros: inputs[0].shape)
        let offsets = sourceOffsets(for: inputs[0].shape)
        outputGradient.scalars.withUnsafeBufferPointer { g in
            gradient.scalars.withUnsafeMutableBufferPointer { dx in
                for (i, offset) in offsets.enumerated() { dx[offset] += g[i] }
            }
        }
        return [gradient]
    }

    /// The input offset of every output element, in output order.
    private func sourceOffsets(for shape: [Int]) -> [Int] {
        let r = try! ranges(for: shape)
        let strides = Tensor.strides(of: shape)
        var offsets = [0]
        for axis in 0..<shape.count {
            let base = offsets
            offsets.removeAll(keepingCapacity: true)
            offsets.reserveCapacity(base.count * r.count[axis])
            for offset in base {
                for j in 0..<r.count[axis] {
                    offsets.append(offset + (r.first[axis] + j * r.step[axis]) * strides[axis])
                }
            }
        }
        return offsets
    }
}
