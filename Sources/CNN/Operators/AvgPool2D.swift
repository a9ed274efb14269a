/// Average pooling over NCHW planes. With `countIncludePad` the divisor is the window's full
/// size within the padded input (ONNX count_include_pad = 1, PyTorch's default); without it,
/// only the input pixels the window covers.
public final class AvgPool2D: Operator {
    public let kind = "avgpool2d"
    public let kernel: (h: Int, w: Int)
    public let stride: (h: Int, w: Int)
    public let padding: Padding
    public let ceilMode: Bool
    public let countIncludePad: Bool

    public init(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: Padding = .zero,
                ceilMode: Bool = false, countIncludePad: Bool = false) {
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
    }

    func window(for shape: [Int]) throws -> Window {
        try Window(kernel: kernel, stride: stride, dilation: (1, 1), padding: padding,
                   inputHeight: shape[2], inputWidth: shape[3], ceilMode: ceilMode)
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try pooledShape(inputShapes) { try window(for: $0) }
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let w = try! window(for: inputs[0].shape)
        let planes = inputs[0].shape[0] * inputs[0].shape[1]
        let area = w.outputHeight * w.outputWidth
        // The windows' spans and divisors are the same on every plane: computed once, they
        // leave the per-plane loop only the sums (Inception runs 3x3 average pools on every
        // block). The sums run separably: a vertical pass adds the window's rows across the
        // whole width (contiguous, so it vectorizes), a horizontal pass adds each window's columns.
        let spans = (0..<area).map { span(w, $0) }
        let (H, W) = (w.inputHeight, w.inputWidth)
        let (x, y) = (UnsafePointer(inputs[0].scalars), output.scalars)
        if w.stride == (1, 1) && (w.outputHeight, w.outputWidth) == (H, W) {
            sameSizeForward(x, y, planes: planes, window: w, divisors: spans.map(\.2))
            return
        }
        parallelFor(planes, cost: w.outputHeight * (W + w.outputWidth) * w.kernel.h) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: W) { buffer in
                let rowSum = buffer.baseAddress!
                for p in range {
                    let (xp, yp) = (x + p * H * W, y + p * area)
                    for oh in 0..<w.outputHeight {
                        rowSum.update(repeating: 0, count: W)
                        for ih in spans[oh * w.outputWidth].0 {
                            let row = xp + ih * W
                            for iw in 0..<W { rowSum[iw] += row[iw] }
                        }
                        for ow in 0..<w.outputWidth {
                            let (_, cols, divisor) = spans[oh * w.outputWidth + ow]
                            var sum: Float = 0
                            for iw in cols { sum += rowSum[iw] }
                            yp[oh * w.outputWidth + ow] = sum / divisor
                        }
                    }
                }
            }
        }
    }

    /// Stride 1 with the output the input's size: sums a plane at a time (`sameSizePool`), then
    /// scales each by its window's divisor.
    private func sameSizeForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int,
                                 window w: Window, divisors: [Float]) {
        let reciprocals = divisors.map { 1 / $0 }
        reciprocals.withUnsafeBufferPointer { reciprocal in
            sameSizePool(x, y, planes: planes, window: w, folding: SumFold.self) { yp in
                for k in 0..<reciprocal.count { yp[k] *= reciprocal[k] }
            }
        }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let w = try! window(for: inputs[0].shape)
        var dx = Tensor(zeros: inputs[0].shape)
        dx.scalars.withUnsafeMutableBufferPointer { d in
            outputGradient.scalars.withUnsafeBufferPointer { g in
                forEachWindow(inputs[0], w) { plane, out, _ in
                    let (rows, cols, divisor) = span(w, out)
                    let share = g[out] / divisor
                    for ih in rows { for iw in cols { d[plane + ih * w.inputWidth + iw] += share } }
                }
            }
        }
        return [dx]
    }

    /// The input rows and columns under output `out`, and the divisor of its average.
    @inline(__always)
    private func span(_ w: Window, _ out: Int) -> (Range<Int>, Range<Int>, Float) {
        let area = w.outputHeight * w.outputWidth
        let oh = (out % area) / w.outputWidth, ow = out % w.outputWidth
        let top = oh * w.stride.h - w.padTop, left = ow * w.stride.w - w.padLeft
        let rows = max(top, 0)..<min(top + w.kernel.h, w.inputHeight)
        let cols = max(left, 0)..<min(left + w.kernel.w, w.inputWidth)
        guard countIncludePad else { return (rows, cols, Float(rows.count * cols.count)) }
        // Windows that ceil mode adds past the padded edge count only up to that edge.
        let paddedRows = min(top + w.kernel.h, w.inputHeight + w.padBottom) - top
        let paddedCols = min(left + w.kernel.w, w.inputWidth + w.padRight) - left
        return (rows, cols, Float(paddedRows * paddedCols))
    }
}
