/// Max pooling over NCHW planes. Padding never wins the max; backward routes each output's
/// gradient to the first maximum of its window in scan order, as PyTorch does on ties.
public final class MaxPool2D: Operator {
    public let kind = "maxpool2d"
    public let kernel: (h: Int, w: Int)
    public let stride: (h: Int, w: Int)
    public let dilation: (h: Int, w: Int)
    public let padding: Padding
    public let ceilMode: Bool

    public init(kernel: (Int, Int), stride: (Int, Int)? = nil, dilation: (Int, Int) = (1, 1),
                padding: Padding = .zero, ceilMode: Bool = false) {
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.dilation = dilation
        self.padding = padding
        self.ceilMode = ceilMode
    }

    func window(for shape: [Int]) throws -> Window {
        try Window(kernel: kernel, stride: stride, dilation: dilation, padding: padding,
                   inputHeight: shape[2], inputWidth: shape[3], ceilMode: ceilMode)
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try pooledShape(inputShapes) { try window(for: $0) }
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let w = try! window(for: inputs[0].shape)
        let planes = inputs[0].shape[0] * inputs[0].shape[1]
        let (H, W) = (w.inputHeight, w.inputWidth)
        let (dilation, reach) = (w.dilation.w, (w.kernel.w - 1) * w.dilation.w)
        // Outputs [interior) read no padding: their maxima come from the dense pass below.
        let interiorStart = Swift.min((w.padLeft + w.stride.w - 1) / w.stride.w, w.outputWidth)
        let interiorEnd = W - 1 - reach + w.padLeft < 0 ? interiorStart
            : Swift.max(interiorStart, Swift.min(w.outputWidth, (W - 1 - reach + w.padLeft) / w.stride.w + 1))
        // Forward needs only the maximum, not its index, so it runs separably and every pass is
        // contiguous, so that it vectorizes: the maximum of the window's rows across the whole
        // width, then of each run of kw columns at every column; outputs pick theirs by stride.
        // NaN wins, as in backward.
        let halves = w.stride.w == 2 && dilation == 1
        let (x, y) = (UnsafePointer(inputs[0].scalars), output.scalars)
        if w.stride == (1, 1) && w.dilation == (1, 1) && (w.outputHeight, w.outputWidth) == (H, W) {
            // Inception's 3x3 pools with padding 1, whose 14- and 28-wide rows ran mostly in the
            // vector loops' scalar remainders: a plane at a time.
            sameSizePool(x, y, planes: planes, window: w, folding: MaxFold.self) { _ in }
            return
        }
        parallelFor(planes, cost: w.outputHeight * W * (w.kernel.h + w.kernel.w)) { range in
            // rowMax has room for a 16-wide load past its last column; zeroed once, as
            // those lanes only ever fill outputs that are not stored.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * W + 16) { buffer in
                let (rowMax, runMax) = (buffer.baseAddress!, buffer.baseAddress! + W + 16)
                (rowMax + W).initialize(repeating: 0, count: 16)
                var out = y + range.lowerBound * w.outputHeight * w.outputWidth
                for p in range {
                    let xp = x + p * H * W
                    for oh in 0..<w.outputHeight {
                        let top = oh * w.stride.h - w.padTop
                        let rows = validRange(offset: top, stride: w.dilation.h, input: H, output: w.kernel.h)
                        func row(_ i: Int) -> UnsafePointer<Float> { xp + (top + i * w.dilation.h) * W }
                        if rows.1 - rows.0 == 1 {
                            rowMax.update(from: row(rows.0), count: W)
                        } else {
                            maximum(of: row(rows.0), row(rows.0 + 1), into: rowMax, count: W)
                            for i in (rows.0 + 2)..<Swift.max(rows.1, rows.0 + 2) {
                                maximum(of: rowMax, row(i), into: rowMax, count: W)
                            }
                        }
                        // Stride 2 picks every other column: eight outputs at a time
                        // from the even and odd lanes of 16-wide loads, rather than a
                        // maximum at every column of which half is thrown away. The
                        // last vector may be partial.
                        var vectorEnd = interiorStart
                        if halves {
                            while vectorEnd < interiorEnd {
                                let left = 2 * vectorEnd - w.padLeft
                                var best = SIMD8<Float>(repeating: -.infinity)
                                for j in 0..<w.kernel.w {
                                    let v = UnsafeRawPointer(rowMax + left + (j & ~1)).loadUnaligned(as: SIMD16<Float>.self)
                                    let taps = j & 1 == 0 ? v.evenHalf : v.oddHalf
                                    best.replace(with: taps, where: (taps .> best) .| (taps .!= taps))
                                }
                                if vectorEnd + 8 <= interiorEnd {
                                    UnsafeMutableRawPointer(out + vectorEnd).storeBytes(of: best, as: SIMD8<Float>.self)
                                } else {
                                    for lane in 0..<(interiorEnd - vectorEnd) { out[vectorEnd + lane] = best[lane] }
                                }
                                vectorEnd = Swift.min(vectorEnd + 8, interiorEnd)
                            }
                        } else if W > reach {
                            runMax.update(from: rowMax, count: W - reach)
                            for j in 1..<w.kernel.w {
                                maximum(of: runMax, rowMax + j * dilation, into: runMax, count: W - reach)
                            }
                            for ow in interiorStart..<interiorEnd { out[ow] = runMax[ow * w.stride.w - w.padLeft] }
                            vectorEnd = interiorEnd
                        }
                        // Windows that reach into the padding, one at a time.
                        func edge(_ ow: Int) {
                            let left = ow * w.stride.w - w.padLeft
                            let taps = validRange(offset: left, stride: dilation, input: W, output: w.kernel.w)
                            var best = rowMax[left + taps.0 * dilation]
                            for j in (taps.0 + 1)..<Swift.max(taps.1, taps.0 + 1) {
                                let v = rowMax[left + j * dilation]
                                best = MaxFold.fold(best, v)
                            }
                            out[ow] = best
                        }
                        for ow in 0..<interiorStart { edge(ow) }
                        for ow in vectorEnd..<w.outputWidth { edge(ow) }
                        out += w.outputWidth
                    }
                }
            }
        }
    }

    /// m[i] = max(a[i], b[i]), NaN winning (either; m may be a).
    @inline(__always)
    private func maximum(of a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into m: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { m[i] = MaxFold.fold(a[i], b[i]) }
    }

    /// Every window holds at least one input pixel (the output size leaves out windows that
    /// lie wholly in padding), so each output has a maximum to route its gradient to.
    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let w = try! window(for: inputs[0].shape)
        let planes = inputs[0].shape[0] * inputs[0].shape[1]
        let (rows, columns) = (w.interiorRows, w.interiorColumns)
        if w.kernel == (2, 2) && w.stride == (2, 2) && w.dilation == (1, 1) && w.padTop == 0 && w.padLeft == 0
            && rows == 0..<w.outputHeight && columns == 0..<w.outputWidth {
            return [pairedBackward(inputs[0], output: output, outputGradient: outputGradient, planes: planes, window: w)]
        }
        var dx = Tensor(zeros: inputs[0].shape)
        dx.scalars.withUnsafeMutableBufferPointer { db in
            outputGradient.scalars.withUnsafeBufferPointer { gb in
                inputs[0].scalars.withUnsafeBufferPointer { xb in
                    output.scalars.withUnsafeBufferPointer { yb in
                        guard let x = xb.baseAddress, let d = db.baseAddress, let gs = gb.baseAddress,
                              let ys = yb.baseAddress else { return }
                        let area = w.outputHeight * w.outputWidth
                        parallelFor(planes, cost: 4 * area * w.kernel.h * w.kernel.w) { range in
                            for p in range {
                                let offset = p * w.inputHeight * w.inputWidth
                                let (xp, dp) = (x + offset, d + offset)
                                var (g, y) = (gs + p * area, ys + p * area)
                                for oh in 0..<w.outputHeight {
                                    for ow in 0..<w.outputWidth {
                                        let fast = rows.contains(oh) && columns.contains(ow) && !y.pointee.isNaN
                                        let tap = fast ? w.firstMaximum(xp, oh, ow, equalTo: y.pointee)
                                                       : w.anyWindowMaximum(xp, oh, ow)
                                        dp[tap] += g.pointee
                                        g += 1
                                        y += 1
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return [dx]
    }

    /// Backward for 2x2 windows 2 apart inside the input (VGG's pooling), where every input pixel
    /// lies in at most one window: each window writes its gradient or zero to all four of its
    /// pixels, so dx needs no zero-filling first and no read-modify-write, and a vector of windows
    /// runs at once, one per lane. Groups with a NaN maximum take the general per-window route.
    private func pairedBackward(_ x: Tensor, output: Tensor, outputGradient: Tensor, planes: Int, window w: Window) -> Tensor {
        let (H, W, Ho, Wo) = (w.inputHeight, w.inputWidth, w.outputHeight, w.outputWidth)
        return Tensor(shape: x.shape) { db in
            x.scalars.withUnsafeBufferPointer { xb in
                output.scalars.withUnsafeBufferPointer { yb in
                    outputGradient.scalars.withUnsafeBufferPointer { gb in
                        let (xs, ys, gs, ds) = (xb.baseAddress!, yb.baseAddress!, gb.baseAddress!, db.baseAddress!)
                        parallelFor(planes, cost: 8 * H * W) { range in
                            for p in range {
                                let (xp, dp) = (xs + p * H * W, ds + p * H * W)
                                for oh in 0..<Ho {
                                    let (y, g) = (ys + (p * Ho + oh) * Wo, gs + (p * Ho + oh) * Wo)
                                    let (top, bottom) = (xp + 2 * oh * W, xp + (2 * oh + 1) * W)
                                    let (dTop, dBottom) = (dp + 2 * oh * W, dp + (2 * oh + 1) * W)
                                    var ow = 0
                                    while ow + Lanes.scalarCount <= Wo {
                                        let m = loadLanes(y + ow, as: Lanes.self)
                                        guard !any(m .!= m) else {
                                            for o in ow..<(ow + Lanes.scalarCount) { routeWindow(xp, dp, oh, o, g[o], window: w) }
                                            ow += Lanes.scalarCount
                                            continue
                                        }
                                        let (upper, lower) = (loadLanes(top + 2 * ow, as: PairedLanes.self),
                                                              loadLanes(bottom + 2 * ow, as: PairedLanes.self))
                                        // The first maximum in scan order: a window's taps are a, b / c, d.
                                        let a = upper.evenHalf .>= m
                                        let b = upper.oddHalf .>= m .& .!a
                                        let c = lower.evenHalf .>= m .& .!(a .| b)
                                        let d = .!(a .| b .| c)
                                        let gradient = loadLanes(g + ow, as: Lanes.self)
                                        let zero = Lanes()
                                        storeLanes(interleaved(zero.replacing(with: gradient, where: a),
                                                               zero.replacing(with: gradient, where: b)), dTop + 2 * ow)
                                        storeLanes(interleaved(zero.replacing(with: gradient, where: c),
                                                               zero.replacing(with: gradient, where: d)), dBottom + 2 * ow)
                                        ow += Lanes.scalarCount
                                    }
                                    for o in ow..<Wo { routeWindow(xp, dp, oh, o, g[o], window: w) }
                                    // An odd width leaves a last column in no window.
                                    for column in (2 * Wo)..<W { dTop[column] = 0; dBottom[column] = 0 }
                                }
                                (dp + 2 * Ho * W).update(repeating: 0, count: (H - 2 * Ho) * W)
                            }
                        }
                    }
                }
            }
        }
    }

    /// One 2x2 window of `pairedBackward`: the gradient to the maximum (the last NaN if any), zero
    /// to the other three.
    private func routeWindow(_ x: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ oh: Int, _ ow: Int,
                             _ gradient: Float, window w: Window) {
        for row in 0..<2 { (d + (2 * oh + row) * w.inputWidth + 2 * ow).update(repeating: 0, count: 2) }
        d[w.anyWindowMaximum(x, oh, ow)] = gradient
    }
}
