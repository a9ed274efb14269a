/// Direct depthwise convolution: each input channel c feeds `multiplier` output channels
/// c * multiplier + m, each with its own kh x kw filter. No im2col: the work per output is
/// tiny, so unrolling would cost more memory traffic than it saves.
func depthwiseForward(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                      batch: Int, channels: Int, multiplier: Int, window w: Window) {
    let (H, W, Ho, Wo) = (w.inputHeight, w.inputWidth, w.outputHeight, w.outputWidth)
    let (kh, kw) = w.kernel
    let outChannels = channels * multiplier
    let isThreeByThree = (kh, kw) == (3, 3) && w.dilation == (1, 1)
    let paddedCount = isThreeByThree ? borderedCount(window: w) : 0
    // Strides 1 and 2 compute a flat plane of rows as wide as the bordered ones; stride 1 reads
    // two floats past the border.
    let flatCount = isThreeByThree && (w.stride == (1, 1) || w.stride == (2, 2)) ? Ho * (Wo + 2) : 0
    parallelFor(batch * channels, cost: 2 * multiplier * Ho * Wo * kh * kw) { range in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: paddedCount + 2 + flatCount) { scratch in
            (scratch.baseAddress! + paddedCount).initialize(repeating: 0, count: 2)
            let flat = scratch.baseAddress! + paddedCount + 2
            for q in range {
                let (s, c) = q.quotientAndRemainder(dividingBy: channels)
                let plane = x + q * H * W
                if isThreeByThree { zeroBordered(plane, window: w, into: scratch.baseAddress!) }
                for m in 0..<multiplier {
                    let oc = c * multiplier + m
                    let filter = weight + oc * kh * kw
                    let out = y + (s * outChannels + oc) * Ho * Wo
                    if isThreeByThree {
                        threeByThree(scratch.baseAddress!, filter, out, window: w, flat: flat)
                        continue
                    }
                    out.update(repeating: 0, count: Ho * Wo)
                    for i in 0..<kh {
                        for j in 0..<kw {
                            let tap = filter[i * kw + j]
                            let dxOff = j * w.dilation.w - w.padLeft
                            let (first, end) = validRange(offset: dxOff, stride: w.stride.w, input: W, output: Wo)
                            guard end > first else { continue }
                            for oh in 0..<Ho {
                                let ih = oh * w.stride.h - w.padTop + i * w.dilation.h
                                guard ih >= 0 && ih < H else { continue }
                                let src = plane + ih * W + dxOff
                                let dst = out + oh * Wo
                                if w.stride.w == 1 {
                                    for ow in first..<end { dst[ow] += tap * src[ow] }
                                } else {
                                    for ow in first..<end { dst[ow] += tap * src[ow * w.stride.w] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Floats of the zero-bordered plane: rows by columns, and at stride 2 both ways a column more
/// per row, as its four parts are each Wo + 1 wide.
private func borderedCount(window w: Window) -> Int {
    let (rows, columns) = ((w.outputHeight - 1) * w.stride.h + 3, (w.outputWidth - 1) * w.stride.w + 3)
    return rows * (w.stride == (2, 2) ? columns + 1 : columns)
}

/// Copies the part of an input plane that 3x3 windows read into a buffer with explicit zero
/// borders, so that the 3x3 kernel's loop needs no bounds checks. At stride 2 across, each row's
/// even columns are stored apart from its odd ones, so that the kernel reads both contiguously;
/// at stride 2 both ways, even rows apart from odd ones too (`quarters`).
private func zeroBordered(_ plane: UnsafePointer<Float>, window w: Window, into padded: UnsafeMutablePointer<Float>) {
    let (rows, columns) = ((w.outputHeight - 1) * w.stride.h + 3, (w.outputWidth - 1) * w.stride.w + 3)
    padded.update(repeating: 0, count: borderedCount(window: w))
    let first = Swift.max(w.padLeft, 0)
    let end = Swift.min(columns, w.padLeft + w.inputWidth)
    guard end > first else { return }
    let (parts, pitch) = (quarters(padded, window: w), w.outputWidth + 1)
    for r in 0..<rows {
        let ih = r - w.padTop
        guard ih >= 0 && ih < w.inputHeight else { continue }
        let (source, row) = (plane + ih * w.inputWidth - w.padLeft, padded + r * columns)
        if w.stride == (2, 2) {
            let (even, odd) = r & 1 == 0 ? (parts.ee, parts.eo) : (parts.oe, parts.oo)
            splitEvenOdd(source, columns: first..<end, into: even + (r >> 1) * pitch, odd: odd + (r >> 1) * pitch)
        } else if w.stride.w == 2 {
            splitEvenOdd(source, columns: first..<end, into: row, odd: row + (columns + 1) / 2)
        } else {
            (row + first).update(from: source + first, count: end - first)
        }
    }
}

/// The four parts of a plane bordered for stride 2 both ways, each Wo + 1 wide: even rows' even
/// and odd columns (Ho + 1 rows each), then odd rows' (Ho rows each). Output (oh, ow) reads
/// row 2oh + i, column 2ow + j, which is a part's (oh, ow), (oh, ow + 1) or (oh + 1, ·): a flat
/// shift of the whole plane for every tap.
private func quarters(_ padded: UnsafeMutablePointer<Float>, window w: Window)
    -> (ee: UnsafeMutablePointer<Float>, eo: UnsafeMutablePointer<Float>, oe: UnsafeMutablePointer<Float>, oo: UnsafeMutablePointer<Float>) {
    let (pitch, evenRows, oddRows) = (w.outputWidth + 1, w.outputHeight + 1, w.outputHeight)
    let ee = padded
    let eo = ee + evenRows * pitch
    let oe = eo + evenRows * pitch
    return (ee, eo, oe, oe + oddRows * pitch)
}

/// even[c / 2] = x[c] for the even c in `columns`, odd[c / 2] = x[c] for the odd ones.
private func splitEvenOdd(_ x: UnsafePointer<Float>, columns: Range<Int>, into even: UnsafeMutablePointer<Float>,
                          odd: UnsafeMutablePointer<Float>) {
    var c = columns.lowerBound
    if c & 1 == 1 { odd[c >> 1] = x[c]; c += 1 }
    while c + PairedLanes.scalarCount <= columns.upperBound {
        let v = loadLanes(x + c, as: PairedLanes.self)
        storeLanes(v.evenHalf, even + (c >> 1))
        storeLanes(v.oddHalf, odd + (c >> 1))
        c += PairedLanes.scalarCount
    }
    for c in c..<columns.upperBound {
        if c & 1 == 0 { even[c >> 1] = x[c] } else { odd[c >> 1] = x[c] }
    }
}

/// The nine taps held in registers over a zero-bordered plane: ShuffleNet's and MobileNet's
/// depthwise layers, whose small planes made the general kernel's per-row set-up dominate.
/// At strides 1 and 2 the plane runs as one flat array into `flat`, rows as wide as the
/// bordered ones (the outputs per row that wrap into the border are computed and dropped): one
/// loop over a 14x14 or 7x7 plane had run almost entirely in its scalar remainder, 17% of
/// ShuffleNet.
private func threeByThree(_ padded: UnsafeMutablePointer<Float>, _ f: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                          window w: Window, flat: UnsafeMutablePointer<Float>) {
    let columns = (w.outputWidth - 1) * w.stride.w + 3
    let (f0, f1, f2, f3, f4, f5, f6, f7, f8) = (f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8])
    let sw = w.stride.w
    if w.stride == (1, 1) || w.stride == (2, 2) {
        let pitch: Int
        if w.stride == (1, 1) {
            pitch = columns
            let (r0, r1, r2) = (padded, padded + columns, padded + 2 * columns)
            for q in 0..<(w.outputHeight * pitch) {
                flat[q] = f0 * r0[q] + f1 * r0[q + 1] + f2 * r0[q + 2] + f3 * r1[q] + f4 * r1[q + 1]
                    + f5 * r1[q + 2] + f6 * r2[q] + f7 * r2[q + 1] + f8 * r2[q + 2]
            }
        } else {
            pitch = w.outputWidth + 1
            let (ee, eo, oe, oo) = quarters(padded, window: w)
            for q in 0..<(w.outputHeight * pitch) {
                flat[q] = f0 * ee[q] + f1 * eo[q] + f2 * ee[q + 1] + f3 * oe[q] + f4 * oo[q]
                    + f5 * oe[q + 1] + f6 * ee[q + pitch] + f7 * eo[q + pitch] + f8 * ee[q + pitch + 1]
            }
        }
        for oh in 0..<w.outputHeight { (out + oh * w.outputWidth).update(from: flat + oh * pitch, count: w.outputWidth) }
        return
    }
    for oh in 0..<w.outputHeight {
        let r0 = padded + oh * w.stride.h * columns
        let (r1, r2) = (r0 + columns, r0 + 2 * columns)
        let dst = out + oh * w.outputWidth
        if sw == 1 {
            for ow in 0..<w.outputWidth {
                dst[ow] = f0 * r0[ow] + f1 * r0[ow + 1] + f2 * r0[ow + 2] + f3 * r1[ow] + f4 * r1[ow + 1]
                    + f5 * r1[ow + 2] + f6 * r2[ow] + f7 * r2[ow + 1] + f8 * r2[ow + 2]
            }
        } else if sw == 2 {
            // Columns 2ow, 2ow + 1 and 2ow + 2 are even[ow], odd[ow] and even[ow + 1].
            let odd = (columns + 1) / 2
            let (o0, o1, o2) = (r0 + odd, r1 + odd, r2 + odd)
            for ow in 0..<w.outputWidth {
                dst[ow] = f0 * r0[ow] + f1 * o0[ow] + f2 * r0[ow + 1] + f3 * r1[ow] + f4 * o1[ow]
                    + f5 * r1[ow + 1] + f6 * r2[ow] + f7 * o2[ow] + f8 * r2[ow + 1]
            }
        } else {
            for ow in 0..<w.outputWidth {
                let b = ow * sw
                dst[ow] = f0 * r0[b] + f1 * r0[b + 1] + f2 * r0[b + 2] + f3 * r1[b] + f4 * r1[b + 1]
                    + f5 * r1[b + 2] + f6 * r2[b] + f7 * r2[b + 1] + f8 * r2[b + 2]
            }
        }
    }
}

/// Input gradient (and, when `dWeight` is given, the weight gradient) of `depthwiseForward`.
func depthwiseBackward(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ gy: UnsafePointer<Float>,
                       _ dx: UnsafeMutablePointer<Float>, _ dWeight: UnsafeMutablePointer<Float>?,
                       batch: Int, channels: Int, multiplier: Int, window w: Window) {
    let (H, W, Ho, Wo) = (w.inputHeight, w.inputWidth, w.outputHeight, w.outputWidth)
    let (kh, kw) = w.kernel
    let outChannels = channels * multiplier
    let sw = w.stride.w
    for s in 0..<batch {
        for c in 0..<channels {
            let plane = x + (s * channels + c) * H * W
            let dplane = dx + (s * channels + c) * H * W
            for m in 0..<multiplier {
                let oc = c * multiplier + m
                let filter = weight + oc * kh * kw
                let g = gy + (s * outChannels + oc) * Ho * Wo
                for i in 0..<kh {
                    for j in 0..<kw {
                        let tap = filter[i * kw + j]
                        let dxOff = j * w.dilation.w - w.padLeft
                        let (first, end) = validRange(offset: dxOff, stride: sw, input: W, output: Wo)
                        guard end > first else { continue }
                        var tapGradient: Float = 0
                        for oh in 0..<Ho {
                            let ih = oh * w.stride.h - w.padTop + i * w.dilation.h
                            guard ih >= 0 && ih < H else { continue }
                            let row = g + oh * Wo
                            let src = plane + ih * W + dxOff
                            let dst = dplane + ih * W + dxOff
                            for ow in first..<end {
                                dst[ow * sw] += tap * row[ow]
                                tapGradient += row[ow] * src[ow * sw]
                            }
                        }
                        dWeight?[oc * kh * kw + i * kw + j] += tapGradient
                    }
                }
            }
        }
    }
}
