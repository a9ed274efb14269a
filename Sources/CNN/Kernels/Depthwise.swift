/// Direct depthwise convolution: each input channel c feeds `multiplier` output channels
/// c * multiplier + m, each with its own kh x kw filter. No im2col: the work per output is
/// tiny, so unrolling would cost more memory traffic than it saves.
func depthwiseForward(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                      batch: Int, channels: Int, multiplier: Int, window w: Window) {
    let (H, W, Ho, Wo) = (w.inputHeight, w.inputWidth, w.outputHeight, w.outputWidth)
    let (kh, kw) = w.kernel
    let outChannels = channels * multiplier
    for s in 0..<batch {
        for c in 0..<channels {
            let plane = x + (s * channels + c) * H * W
            for m in 0..<multiplier {
                let oc = c * multiplier + m
                let filter = weight + oc * kh * kw
                let out = y + (s * outChannels + oc) * Ho * Wo
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
