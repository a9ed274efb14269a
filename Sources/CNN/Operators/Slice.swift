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

    /// Copies the slice as runs of consecutive input scalars, split across the engine's threads.
    /// ShuffleNet's channel split slices whole planes on axis 1: at batch 1 one run, copied in
    /// pieces by both threads, where listing every element's offset first took a fifth of the
    /// network at one thread and left the other thread idle.
    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let (x, y) = (UnsafePointer(inputs[0].scalars), output.scalars)
        forEachRun(of: inputs[0].shape) { input, output, count in (y + output).update(from: x + input, count: count) }
    }

    /// The output gradient's runs written back to where they were taken from: a slice takes
    /// each input scalar at most once, so the rest of the gradient stays zero.
    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        var gradient = Tensor(zeros: inputs[0].shape)
        outputGradient.scalars.withUnsafeBufferPointer { g in
            gradient.scalars.withUnsafeMutableBufferPointer { dx in
                let (from, to) = (g.baseAddress!, dx.baseAddress!)
                forEachRun(of: inputs[0].shape) { input, output, count in (to + input).update(from: from + output, count: count) }
            }
        }
        return [gradient]
    }

    /// Calls `body(input, output, count)` for runs of `count` consecutive scalars that the slice
    /// of an input of `shape` takes from offset `input` into offset `output`, together covering
    /// the output once, split across the engine's threads.
    private func forEachRun(of shape: [Int], _ body: (_ input: Int, _ output: Int, _ count: Int) -> Void) {
        let r = try! ranges(for: shape)
        let strides = Tensor.strides(of: shape)
        // The trailing axes taken whole, and the axis before them when it steps by one, are one
        // run per position of the axes before (the outer axes).
        var outer = shape.count
        var run = 1
        while outer > 0 && r.first[outer - 1] == 0 && r.step[outer - 1] == 1 && r.count[outer - 1] == shape[outer - 1] {
            outer -= 1
            run *= shape[outer]
        }
        var base = 0
        if outer > 0 && r.step[outer - 1] == 1 {
            outer -= 1
            run *= r.count[outer]
            base = r.first[outer] * strides[outer]
        }
        let runs = r.count[..<outer].reduce(1, *)
        guard runs > 0, run > 0 else { return }
        /// The input offset of run `q`'s first scalar.
        func offset(ofRun q: Int) -> Int {
            var (rest, offset) = (q, base)
            for axis in (0..<outer).reversed() {
                let index: Int
                (rest, index) = rest.quotientAndRemainder(dividingBy: r.count[axis])
                offset += (r.first[axis] + index * r.step[axis]) * strides[axis]
            }
            return offset
        }
        // Few long runs are cut into pieces of at least 16K scalars, so that both threads copy.
        let pieces = Swift.max(1, Swift.min(4 * EngineThreads.count / runs, run / (1 << 14)))
        if pieces > 1 {
            parallelFor(runs * pieces, cost: run / pieces) { units in
                for unit in units {
                    let (q, piece) = unit.quotientAndRemainder(dividingBy: pieces)
                    let part = (run * piece / pieces)..<(run * (piece + 1) / pieces)
                    body(offset(ofRun: q) + part.lowerBound, q * run + part.lowerBound, part.count)
                }
            }
            return
        }
        parallelFor(runs, cost: run, minimumChunk: Swift.max(1, 4096 / run)) { range in
            // The outer axes' indices of the range's first run, then counted up run by run.
            var index = [Int](repeating: 0, count: outer)
            var rest = range.lowerBound
            for axis in (0..<outer).reversed() {
                (rest, index[axis]) = rest.quotientAndRemainder(dividingBy: r.count[axis])
            }
            var from = offset(ofRun: range.lowerBound)
            for q in range {
                body(from, q * run, run)
                var axis = outer - 1
                while axis >= 0 {
                    index[axis] += 1
                    from += r.step[axis] * strides[axis]
                    if index[axis] < r.count[axis] { break }
                    from -= r.count[axis] * r.step[axis] * strides[axis]
                    index[axis] = 0
                    axis -= 1
                }
            }
        }
    }
}
