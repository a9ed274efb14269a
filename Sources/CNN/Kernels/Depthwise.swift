import CKernels

/// Depthwise convolution: each input channel c feeds `multiplier` output channels
/// c * multiplier + m, each with its own kh x kw filter. No im2col: the work per output is tiny,
/// so unrolling would cost more memory traffic than it saves.
///
/// Taps up to 7x7 at strides 1 and 2 (every depthwise layer of MobileNet, EfficientNet, MnasNet,
/// ShuffleNet and ConvNeXt) run through CKernels' kernels with the finish fused, eight channels
/// at a time or a plane at a time; dilated or larger ones through the general loops below.
struct DepthwiseConvolution {
    private var shape: salient_depthwise
    let window: Window

    /// nil when the C kernel does not take the geometry.
    init?(window w: Window) {
        guard w.dilation == (1, 1) else { return nil }
        shape = salient_depthwise(inputHeight: Int32(w.inputHeight), inputWidth: Int32(w.inputWidth),
                                  kernelHeight: Int32(w.kernel.h), kernelWidth: Int32(w.kernel.w),
                                  strideHeight: Int32(w.stride.h), strideWidth: Int32(w.stride.w),
                                  padTop: Int32(w.padTop), padLeft: Int32(w.padLeft),
                                  outputHeight: Int32(w.outputHeight), outputWidth: Int32(w.outputWidth))
        guard salient_depthwise_applies(&shape) else { return nil }
        window = w
    }

    /// Floats of scratch per thread.
    private var scratchPerThread: Int {
        var shape = shape
        return salient_depthwise_scratch(&shape)
    }

    /// Output planes q = (s, oc) of y = f(x ⋆ w + bias + residual), `pre` receiving f's argument
    /// when given; residual and pre are laid out as y. Planes split across the threads.
    func forward(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                 batch: Int, channels: Int, multiplier: Int, bias: UnsafePointer<Float>?,
                 residual: UnsafePointer<Float>?, activation: Activation?, preActivation pre: UnsafeMutablePointer<Float>?,
                 workspace: Workspace) {
        let (hw, p, taps) = (window.inputHeight * window.inputWidth, window.outputHeight * window.outputWidth,
                             window.kernel.h * window.kernel.w)
        let outChannels = channels * multiplier
        let kernel = activation?.kernel ?? salient_activation(kind: salient_identity, alpha: 0, beta: 0)
        // Eight channels at a time wherever each filter has its own plane: since the channel
        // blocks' loops over the channels unrolled, they beat the plane kernel on wide planes too
        // (kernels alone, one thread: 3x3 ReLU6 on 32 x 112x112 0.137 ms against 0.168, on 144 x
        // 56x56 0.163 against 0.239), except for taps at most three wide at stride 1 on rows
        // wider than 64 with an activation that takes an exponential: there the plane kernel's
        // rows fill the vectors, and three taps a row do not pay for the blocks' transposes
        // (SiLU, one thread: 3x3 on 480 x 75x75 2.38-2.43 ms against 2.64-2.67, on 96 x 132x132
        // 1.31 against 1.41-1.43). Five taps and more do (5x5 on 480 x 75x75 3.33-3.56 against
        // 3.81-3.97, on 96 x 132x132 1.89-1.98 against 2.19-2.20), since the blocks run the
        // activation as a pass over a few finished rows instead of in their finish.
        let exponential: Bool
        switch activation {
        case .sigmoid?, .tanh?, .silu?, .gelu?: exponential = true
        default: exponential = false
        }
        let planeKernel = window.stride == (1, 1) && window.outputWidth > 64 && window.kernel.w <= 3 && exponential
        if multiplier == 1, !planeKernel {
            return forwardInChannelBlocks(x, weight, y, batch: batch, channels: channels, bias: bias, residual: residual,
                                          activation: kernel, preActivation: pre, workspace: workspace)
        }
        let scratch = scratchPerThread
        let threads = EngineThreads.count
        workspace.withBuffer(count: scratch * threads) { buffer in
            parallelChunks(batch * outChannels, cost: 2 * taps * p, threads: threads) { slot, planes in
                var (shape, kernel) = (shape, kernel)
                for q in planes {
                    let (s, oc) = q.quotientAndRemainder(dividingBy: outChannels)
                    let input = x + (s * channels + oc / multiplier) * hw
                    salient_depthwise_forward(&shape, input, weight + oc * taps, bias?[oc] ?? 0, residual.map { $0 + q * p },
                                              &kernel, pre.map { $0 + q * p }, y + q * p, buffer + slot * scratch)
                }
            }
        }
    }

    /// The forward pass eight channels at a time, the channels in the vector lanes (a multiplier
    /// of one: every depthwise layer of the MobileNet families): blocks of eight channels, and on
    /// large planes bands of output rows, split across the threads.
    private func forwardInChannelBlocks(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                                        _ y: UnsafeMutablePointer<Float>, batch: Int, channels: Int,
                                        bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
                                        activation: salient_activation, preActivation pre: UnsafeMutablePointer<Float>?,
                                        workspace: Workspace) {
        let (hw, p, taps) = (window.inputHeight * window.inputWidth, window.outputHeight * window.outputWidth,
                             window.kernel.h * window.kernel.w)
        var shape = shape
        let scratch = salient_depthwise_channel_block_scratch(&shape)
        let threads = EngineThreads.count
        let blocks = (channels + 7) / 8
        let bands = rowBands(batch: batch, threads: threads)
        let rows = window.outputHeight
        workspace.withBuffer(count: scratch * threads) { buffer in
            // Bands outermost, so that each thread's share of the units is its band of every
            // block of channels.
            parallelChunks(batch * bands * blocks, cost: 16 * taps * p / bands, threads: threads) { slot, range in
                var (shape, activation) = (shape, activation)
                for unit in range {
                    let (stripe, block) = unit.quotientAndRemainder(dividingBy: blocks)
                    let (s, band) = stripe.quotientAndRemainder(dividingBy: bands)
                    let c = block * 8
                    let plane = s * channels + c
                    salient_depthwise_forward_channel_block(&shape, Int32(Swift.min(8, channels - c)), x + plane * hw,
                                                            weight + c * taps, bias.map { $0 + c },
                                                            residual.map { $0 + plane * p }, &activation,
                                                            pre.map { $0 + plane * p }, y + plane * p,
                                                            buffer + slot * scratch, Int32(rows * band / bands),
                                                            Int32(rows * (band + 1) / bands))
                }
            }
        }
    }

    /// How many bands of output rows each image's planes are cut into: one, unless the images
    /// alone do not split evenly across the threads and the input plane is one the pointwise
    /// kernel splits by columns (256 or more, so that the 1x1 layer before this one left each
    /// thread a band of every plane's rows). Then one band per thread, as onnxruntime's MLAS
    /// splits its NCHWc convolutions by output rows, so that each thread reads the rows the
    /// same thread wrote in the layer before and writes the rows it reads in the layer after:
    /// split by blocks of channels, each thread read half its planes from the other core's
    /// cache (MnasNet 1.0's depthwise 3x3 on 32 x 112x112 ran 1.42x faster on two threads than
    /// on one, onnxruntime's 2.2x). The halo rows a band lays out again are few beside its own.
    private func rowBands(batch: Int, threads: Int) -> Int {
        guard threads > 1, batch % threads != 0, window.inputHeight * window.inputWidth >= 256 else { return 1 }
        let bands = threads / greatestCommonDivisor(batch, threads)
        return Swift.min(bands, window.outputHeight)
    }

    /// The input gradient (written) and, when `weightGradient` is given, the weights' gradient
    /// (added), split across the threads by input channel, so that each thread writes its own
    /// planes of dx and rows of the weight gradient.
    func backward(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ gy: UnsafePointer<Float>,
                  _ dx: UnsafeMutablePointer<Float>?, _ weightGradient: UnsafeMutablePointer<Float>?,
                  batch: Int, channels: Int, multiplier: Int, workspace: Workspace) {
        let (hw, p, taps) = (window.inputHeight * window.inputWidth, window.outputHeight * window.outputWidth,
                             window.kernel.h * window.kernel.w)
        let outChannels = channels * multiplier
        // A multiplier over one sums several planes' gradients into one input plane.
        let scratch = scratchPerThread + (multiplier > 1 ? hw : 0)
        let threads = EngineThreads.count
        workspace.withBuffer(count: scratch * threads) { buffer in
            parallelChunks(channels, cost: 4 * taps * p * batch * multiplier, threads: threads) { slot, range in
                var shape = shape
                let (plane, sum) = (buffer + slot * scratch, buffer + slot * scratch + scratch - hw)
                for c in range {
                    for s in 0..<batch {
                        let d = dx.map { $0 + (s * channels + c) * hw }
                        for m in 0..<multiplier {
                            let oc = c * multiplier + m
                            let into = m == 0 ? d : d.map { _ in sum }
                            salient_depthwise_backward(&shape, x + (s * channels + c) * hw, weight + oc * taps,
                                                       gy + (s * outChannels + oc) * p, into,
                                                       weightGradient.map { $0 + oc * taps }, plane)
                            if m > 0, let d { for i in 0..<hw { d[i] += sum[i] } }
                        }
                    }
                }
            }
        }
    }
}

/// The general depthwise loops, for dilated filters and taps past 7x7: y without bias.
func depthwiseForward(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                      batch: Int, channels: Int, multiplier: Int, window w: Window) {
    let (H, W, Ho, Wo) = (w.inputHeight, w.inputWidth, w.outputHeight, w.outputWidth)
    let (kh, kw) = w.kernel
    let outChannels = channels * multiplier
    parallelFor(batch * channels, cost: 2 * multiplier * Ho * Wo * kh * kw) { range in
        for q in range {
            let (s, c) = q.quotientAndRemainder(dividingBy: channels)
            let plane = x + q * H * W
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
                            for ow in first..<end { dst[ow] += tap * src[ow * w.stride.w] }
                        }
                    }
                }
            }
        }
    }
}

/// Input gradient (accumulated into dx) and, when `dWeight` is given, the weight gradient of the
/// general `depthwiseForward`.
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
