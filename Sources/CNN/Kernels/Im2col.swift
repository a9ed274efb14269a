/// Unrolls the sliding windows of one image's channels into the columns of a matrix, so that a
/// convolution becomes one GEMM. Row r = (c * kh + i) * kw + j of `col` holds, for every output
/// position, the input pixel under tap (i, j) of channel c (zero in the padding). `col` has
/// `ld` columns; this image's block starts at column `offset`. Only the output rows in `rows`
/// are written, so that threads can each unroll the part of the image they multiply.
func im2col(_ x: UnsafePointer<Float>, channels: Int, window w: Window, rows: Range<Int>,
            col: UnsafeMutablePointer<Float>, ld: Int, offset: Int) {
    let (H, W, Wo) = (w.inputHeight, w.inputWidth, w.outputWidth)
    let (sh, sw) = w.stride
    guard Wo >= 16 else {
        gatheredIm2col(x, channels: channels, window: w, rows: rows, col: col, ld: ld, offset: offset)
        return
    }
    for c in 0..<channels {
        let plane = x + c * H * W
        for i in 0..<w.kernel.h {
            for j in 0..<w.kernel.w {
                let row = col + ((c * w.kernel.h + i) * w.kernel.w + j) * ld + offset
                let dx = j * w.dilation.w - w.padLeft
                let (first, end) = validRange(offset: dx, stride: sw, input: W, output: Wo)
                for oh in rows {
                    let ih = oh * sh - w.padTop + i * w.dilation.h
                    let dst = row + oh * Wo
                    guard ih >= 0 && ih < H else {
                        dst.update(repeating: 0, count: Wo)
                        continue
                    }
                    let src = plane + ih * W
                    if first > 0 { dst.update(repeating: 0, count: first) }
                    if sw == 1 {
                        if end > first { dst.advanced(by: first).update(from: src + first + dx, count: end - first) }
                    } else {
                        var ow = first
                        // Stride 2 (the first layer of most ImageNet models): the even lanes of
                        // a double-width load, while it stays inside the row.
                        if sw == 2 {
                            while ow + Lanes.scalarCount <= end && 2 * (ow + Lanes.scalarCount) + dx <= W {
                                storeLanes(loadLanes(src + 2 * ow + dx, as: PairedLanes.self).evenHalf, dst + ow)
                                ow += Lanes.scalarCount
                            }
                        }
                        while ow < end { dst[ow] = src[ow * sw + dx]; ow += 1 }
                    }
                    if end < Wo { dst.advanced(by: Swift.max(end, first)).update(repeating: 0, count: Wo - Swift.max(end, first)) }
                }
            }
        }
    }
}

/// `im2col` for narrow outputs (7x7 and 14x14 planes), whose rows are a few floats each:
/// copying them one memmove at a time cost more than the GEMM's packing (ResNet-50's 512-channel
/// 7x7 layers spent a fifth of their time there). Instead the input rows the band reads are
/// copied once per channel into a zero-bordered plane, from which every tap gathers its whole
/// band through one table of offsets.
private func gatheredIm2col(_ x: UnsafePointer<Float>, channels: Int, window w: Window, rows: Range<Int>,
                            col: UnsafeMutablePointer<Float>, ld: Int, offset: Int) {
    let (H, W, Wo) = (w.inputHeight, w.inputWidth, w.outputWidth)
    let (sh, sw, dh, dw) = (w.stride.h, w.stride.w, w.dilation.h, w.dilation.w)
    let top = rows.lowerBound * sh - w.padTop
    let (paddedRows, paddedWidth) = ((rows.count - 1) * sh + (w.kernel.h - 1) * dh + 1, (Wo - 1) * sw + (w.kernel.w - 1) * dw + 1)
    let columns = rows.count * Wo
    withUnsafeTemporaryAllocation(of: Int32.self, capacity: columns) { table in
        for t in 0..<columns {
            let (oh, ow) = t.quotientAndRemainder(dividingBy: Wo)
            table[t] = Int32(oh * sh * paddedWidth + ow * sw)
        }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: paddedRows * paddedWidth) { buffer in
            let padded = buffer.baseAddress!
            for c in 0..<channels {
                let plane = x + c * H * W
                for r in 0..<paddedRows {
                    let ih = top + r
                    let line = padded + r * paddedWidth
                    for q in 0..<paddedWidth {
                        let iw = q - w.padLeft
                        line[q] = ih >= 0 && ih < H && iw >= 0 && iw < W ? plane[ih * W + iw] : 0
                    }
                }
                for i in 0..<w.kernel.h {
                    for j in 0..<w.kernel.w {
                        let dst = col + ((c * w.kernel.h + i) * w.kernel.w + j) * ld + offset + rows.lowerBound * Wo
                        let src = padded + i * dh * paddedWidth + j * dw
                        for t in 0..<columns { dst[t] = src[Int(table[t])] }
                    }
                }
            }
        }
    }
}

/// The transpose of `im2col`: adds every column entry back onto the input pixel it came from.
func col2im(_ col: UnsafePointer<Float>, ld: Int, offset: Int, channels: Int, window w: Window,
            into dx: UnsafeMutablePointer<Float>) {
    let (H, W, Ho, Wo) = (w.inputHeight, w.inputWidth, w.outputHeight, w.outputWidth)
    let (sh, sw) = w.stride
    for c in 0..<channels {
        let plane = dx + c * H * W
        for i in 0..<w.kernel.h {
            for j in 0..<w.kernel.w {
                let row = col + ((c * w.kernel.h + i) * w.kernel.w + j) * ld + offset
                let dxOff = j * w.dilation.w - w.padLeft
                let (first, end) = validRange(offset: dxOff, stride: sw, input: W, output: Wo)
                guard end > first else { continue }
                for oh in 0..<Ho {
                    let ih = oh * sh - w.padTop + i * w.dilation.h
                    guard ih >= 0 && ih < H else { continue }
                    let dst = plane + ih * W
                    let src = row + oh * Wo
                    var ow = first
                    while ow < end { dst[ow * sw + dxOff] += src[ow]; ow += 1 }
                }
            }
        }
    }
}

/// The output columns [first, end) whose input column ow * stride + offset lies in [0, input).
@inline(__always)
func validRange(offset: Int, stride: Int, input: Int, output: Int) -> (Int, Int) {
    let first = offset >= 0 ? 0 : (-offset + stride - 1) / stride
    let last = input - 1 - offset
    let end = last < 0 ? 0 : Swift.min(output, last / stride + 1)
    return (Swift.min(first, output), end)
}
