import Foundation

/// Conv2D's forward strategies: which kernel a layer runs through, and the finish (bias,
/// residual, activation) that every strategy applies to the blocks it writes while they are in
/// cache.
extension Conv2D {
    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let x = inputs[0]
        let w = try! window(for: x.shape)
        let (X, Y, n) = (UnsafePointer(x.scalars), output.scalars, x.shape[0])
        let residual = inputs.count > 1 ? inputs[1].scalars : nil
        func run(keepingInputIn pre: UnsafeMutablePointer<Float>?) {
            forward(X, Y, batch: n, window: w, finish: Finish(output: Y, residual: residual, preActivation: pre),
                    context: context)
        }
        // Hard swish and SiLU cannot recover their argument from their output, so a pass that
        // backward will follow keeps it.
        guard let activation, !activation.isInvertibleFromOutput, context.keepsForBackward else {
            return run(keepingInputIn: nil)
        }
        var pre = Tensor(unfilledShape: output.shape)
        pre.scalars.withUnsafeMutableBufferPointer { run(keepingInputIn: $0.baseAddress) }
        context.saved[ObjectIdentifier(self)] = pre
    }

    private func forward(_ X: UnsafePointer<Float>, _ Y: UnsafeMutablePointer<Float>, batch n: Int, window w: Window,
                         finish: Finish, context: ForwardContext) {
        let (cin, cout) = (inChannels, outChannels)
        let (coutg, p) = (cout / groups, w.outputHeight * w.outputWidth)
        weight.value.scalars.withUnsafeBufferPointer { wb in
            let Wt = wb.baseAddress!
            if isDepthwise, let kernel = DepthwiseConvolution(window: w) {
                withBias { b in
                    kernel.forward(X, Wt, Y, batch: n, channels: cin, multiplier: coutg, bias: b,
                                   residual: finish.residual.map { UnsafePointer($0) }, activation: activation,
                                   preActivation: finish.preActivation, workspace: context.workspace)
                }
            } else if isDepthwise {
                depthwiseForward(X, Wt, Y, batch: n, channels: cin, multiplier: coutg, window: w)
                finishOutput(Y, planes: n * cout, channels: cout, plane: p, finish: finish)
            } else if isPointwise || isStridedPointwise(over: w) {
                pointwiseForward(X, Wt, Y, batch: n, window: w, finish: finish, context: context)
            } else if let direct = DirectConvolution(inChannels: cin, outChannels: cout, groups: groups, window: w) {
                let packed = directFilters(for: direct, isTraining: context.isTraining)
                direct.forward(X, packed: packed, Y, batch: n, workspace: context.workspace) { image, channels, rows in
                    finishRows(Y + (image * cout + channels.lowerBound) * p + rows.lowerBound * w.outputWidth,
                               channels: channels, stride: p, count: rows.count * w.outputWidth, finish: finish)
                }
            } else if !context.isTraining, let filters = winogradFilters(for: w) {
                filters.forward(X, Y, batch: n, window: w, workspace: context.workspace) { plane, rows, channels in
                    finishRows(plane + channels.lowerBound * p + rows.lowerBound * w.outputWidth,
                               channels: channels, stride: p, count: rows.count * w.outputWidth,
                               finish: finish)
                }
            } else {
                unrolledForward(X, Wt, Y, workspace: context.workspace, batch: n, window: w, finish: finish,
                                gathers: !context.isTraining)
            }
        }
    }

    /// Where the finish writes besides the output: the tensor a fused residual connection adds,
    /// and the activation's argument when backward needs it, each addressed by the output
    /// position it belongs to.
    struct Finish {
        let output: UnsafeMutablePointer<Float>
        let residual: UnsafeMutablePointer<Float>?
        let preActivation: UnsafeMutablePointer<Float>?

        func addend(at y: UnsafeMutablePointer<Float>) -> UnsafePointer<Float>? { residual.map { UnsafePointer($0 + (y - output)) } }
        func preActivation(at y: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float>? { preActivation.map { $0 + (y - output) } }
    }

    /// A 1x1 convolution runs through the pointwise kernel, image by image, except that at
    /// inference the small planes of a batch multiply side by side in one GEMM (with strides,
    /// the unrolled columns' GEMM, whose im2col gathers them).
    func pointwiseForward(_ X: UnsafePointer<Float>, _ Wt: UnsafePointer<Float>, _ Y: UnsafeMutablePointer<Float>,
                          batch n: Int, window w: Window, finish: Finish, context: ForwardContext) {
        let p = w.outputHeight * w.outputWidth
        let images = Conv2D.imagesPerGEMM(plane: p, depth: inChannels, images: n)
        let strided = w.stride != (1, 1)
        if !context.isTraining && groups == 1 && images > 1 && finish.preActivation == nil {
            if strided {
                unrolledForwardGathered(X, Wt, Y, workspace: context.workspace, batch: n, window: w, imagesPerGEMM: images,
                                        finish: finish)
            } else {
                pointwiseForwardGathered(X, Wt, Y, batch: n, plane: p, imagesPerGEMM: images, finish: finish,
                                         workspace: context.workspace)
            }
            return
        }
        let filters = pointwiseFilters(isTraining: context.isTraining)
        withBias { b in
            filters.forward(X, Y, batch: n, plane: p, gathering: strided ? w : nil, bias: b,
                            residual: finish.residual.map { UnsafePointer($0) }, activation: activation,
                            preActivation: finish.preActivation, workspace: context.workspace)
        }
    }

    /// Runs `body` with the bias's scalars, or nil when there is no bias.
    func withBias<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        guard let bias else { return body(nil) }
        return bias.value.scalars.withUnsafeBufferPointer { body($0.baseAddress) }
    }

    /// Small planes of a batch as one GEMM per group of images: their inputs copied side by
    /// side, so that the weights are streamed once for all of them (a 7x7 plane is a GEMM of 49
    /// columns, which spends most of its time fetching and packing weights), and the product
    /// finished into each image's place.
    func pointwiseForwardGathered(_ X: UnsafePointer<Float>, _ Wt: UnsafePointer<Float>, _ Y: UnsafeMutablePointer<Float>,
                                          batch n: Int, plane p: Int, imagesPerGEMM: Int, finish: Finish,
                                          workspace: Workspace) {
        let (cin, cout) = (inChannels, outChannels)
        workspace.withBuffers(cin * imagesPerGEMM * p, cout * imagesPerGEMM * p) { b, c in
            for first in Swift.stride(from: 0, to: n, by: imagesPerGEMM) {
                let width = Swift.min(imagesPerGEMM, n - first) * p
                parallelFor(cin, cost: width) { channels in
                    for ci in channels {
                        for s in 0..<(width / p) { (b + ci * width + s * p).update(from: X + ((first + s) * cin + ci) * p, count: p) }
                    }
                }
                sgemm(m: cout, n: width, k: cin, a: Wt, lda: cin, b: b, ldb: width, c: c, ldc: width) { rows, columns in
                    finishGathered(c, ld: width, rows: rows, columns: columns, into: Y, firstImage: first, plane: p,
                                   firstChannel: 0, finish: finish)
                }
            }
        }
    }

    /// im2col + GEMM in bands of output rows, each small enough for its unrolled panel to stay
    /// in cache (and the workspace small): a band is unrolled, multiplied and finished while it
    /// is in cache, by one thread or, when bands are fewer than threads, by all of them.
    func unrolledForward(_ X: UnsafePointer<Float>, _ Wt: UnsafePointer<Float>, _ Y: UnsafeMutablePointer<Float>,
                                 workspace: Workspace, batch n: Int, window w: Window, finish: Finish, gathers: Bool) {
        let (cin, cout, cg, coutg) = (inChannels, outChannels, inChannels / groups, outChannels / groups)
        let (hw, Ho, Wo) = (w.inputHeight * w.inputWidth, w.outputHeight, w.outputWidth)
        let (p, k) = (Ho * Wo, cg * kernel.h * kernel.w)
        let images = Conv2D.imagesPerGEMM(plane: p, depth: k, images: n)
        if gathers && groups == 1 && images > 1 {
            unrolledForwardGathered(X, Wt, Y, workspace: workspace, batch: n, window: w, imagesPerGEMM: images, finish: finish)
            return
        }
        let bands = Conv2D.bands(rows: Ho, width: Wo, depth: k, images: n, threads: EngineThreads.count)
        let bandRows = (Ho + bands - 1) / bands
        for g in 0..<groups {
            let filters = Wt + g * coutg * k
            forEachBand(n * bands, scratch: k * bandRows * Wo, cost: 2 * k * coutg * bandRows * Wo,
                        workspace: workspace) { band, col, splitsGEMM in
                let (s, b) = band.quotientAndRemainder(dividingBy: bands)
                let rows = (Ho * b / bands)..<(Ho * (b + 1) / bands)
                let (width, column) = (rows.count * Wo, rows.lowerBound * Wo)
                // A band that all threads multiply is unrolled by all of them, a share of channels each.
                let (input, taps) = (X + (s * cin + g * cg) * hw, kernel.h * kernel.w)
                if splitsGEMM {
                    parallelFor(cg, cost: 2 * taps * width) { channels in
                        im2col(input + channels.lowerBound * hw, channels: channels.count, window: w, rows: rows,
                               col: col + channels.lowerBound * taps * width, ld: width, offset: -column)
                    }
                } else {
                    im2col(input, channels: cg, window: w, rows: rows, col: col, ld: width, offset: -column)
                }
                let y = Y + (s * cout + g * coutg) * p + column
                sgemm(m: coutg, n: width, k: k, a: filters, lda: k, b: col, ldb: width, c: y, ldc: p,
                      parallel: splitsGEMM) { rows, columns in
                    finishBlock(y, firstChannel: g * coutg, rows: rows, columns: columns, stride: p,
                                finish: finish)
                }
            }
        }
    }

    /// Small planes of a batch unrolled side by side into one panel, so that one GEMM streams the
    /// weights once for all of them (ResNet-50's 512-channel 7x7 layers multiply 49 columns per
    /// image against 9 MB of weights), and the product finished into each image's place.
    func unrolledForwardGathered(_ X: UnsafePointer<Float>, _ Wt: UnsafePointer<Float>, _ Y: UnsafeMutablePointer<Float>,
                                         workspace: Workspace, batch n: Int, window w: Window, imagesPerGEMM: Int,
                                         finish: Finish) {
        let (cin, cout) = (inChannels, outChannels)
        let (hw, p, k) = (w.inputHeight * w.inputWidth, w.outputHeight * w.outputWidth, inChannels * kernel.h * kernel.w)
        workspace.withBuffers(k * imagesPerGEMM * p, cout * imagesPerGEMM * p) { col, c in
            for first in Swift.stride(from: 0, to: n, by: imagesPerGEMM) {
                let count = Swift.min(imagesPerGEMM, n - first)
                let width = count * p
                parallelFor(count, cost: k * p) { images in
                    for s in images {
                        im2col(X + (first + s) * cin * hw, channels: cin, window: w, rows: 0..<w.outputHeight,
                               col: col, ld: width, offset: s * p)
                    }
                }
                sgemm(m: cout, n: width, k: k, a: Wt, lda: k, b: col, ldb: width, c: c, ldc: width) { rows, columns in
                    finishGathered(c, ld: width, rows: rows, columns: columns, into: Y, firstImage: first, plane: p,
                                   firstChannel: 0, finish: finish)
                }
            }
        }
    }

    /// How many bands of output rows an image is cut into: each band few enough rows that its
    /// panel of unrolled columns fits in cache, at least 256 columns wide so that GEMM stays
    /// efficient, and, when bands are few, more of them (down to 128 columns) so that each thread
    /// has about four to claim and they finish together, their number a multiple of the thread
    /// count. The rows are dealt out evenly (a band has `rows / bands` rows or one more): rounding
    /// the rows per band up instead made 14 rows in 8 bands 7 bands of 2, an odd number for two
    /// threads.
    static func bands(rows: Int, width: Int, depth: Int, images: Int, threads: Int) -> Int {
        let columns = Swift.max(256, (1 << 17) / Swift.max(depth, 1))
        var bands = Swift.min(rows, Swift.max(1, (rows * width) / columns))
        if images * bands < 4 * threads && bands > 1 {
            bands = Swift.max(bands, Swift.min(rows, (4 * threads + images - 1) / images, rows * width / 128))
            bands = Swift.min(rows, (bands + threads - 1) / threads * threads)
        }
        return bands
    }

    /// Adds the bias and applies the activation in one pass over whole output planes.
    func finishOutput(_ y: UnsafeMutablePointer<Float>, planes: Int, channels: Int, plane: Int,
                              finish: Finish) {
        guard bias != nil || activation != nil || finish.residual != nil else { return }
        parallelFor(planes, cost: plane) { range in
            for q in range {
                finishRows(y + q * plane, channels: (q % channels)..<(q % channels + 1), stride: plane, count: plane,
                           finish: finish)
            }
        }
    }

    /// Bias and activation over one finished GEMM block of a group's output `y` (rows are output
    /// channels from `firstChannel`, `stride` apart).
    func finishBlock(_ y: UnsafeMutablePointer<Float>, firstChannel: Int, rows: Range<Int>, columns: Range<Int>,
                             stride: Int, finish: Finish) {
        finishRows(y + rows.lowerBound * stride + columns.lowerBound,
                   channels: (firstChannel + rows.lowerBound)..<(firstChannel + rows.upperBound), stride: stride,
                   count: columns.count, finish: finish)
    }

    /// Bias, residual and activation over `count` scalars of each channel's row, rows `stride` apart.
    func finishRows(_ y: UnsafeMutablePointer<Float>, channels: Range<Int>, stride: Int, count: Int,
                            finish: Finish) {
        finishRows(y, sourceStride: stride, into: y, channels: channels, stride: stride, count: count, finish: finish)
    }

    /// The same from rows of `x` (`sourceStride` apart) into rows of `y`, which may be the same.
    func finishRows(_ x: UnsafePointer<Float>, sourceStride: Int, into y: UnsafeMutablePointer<Float>,
                            channels: Range<Int>, stride: Int, count: Int, finish: Finish) {
        guard bias != nil || activation != nil || finish.residual != nil || x != UnsafePointer(y) else { return }
        let b = bias?.value.scalars
        for (r, c) in channels.enumerated() {
            let row = y + r * stride
            Activation.finish(activation, x + r * sourceStride, bias: b?[c] ?? 0, adding: finish.addend(at: row),
                              keepingInputIn: finish.preActivation(at: row), into: row, count: count)
        }
    }

    /// Finishes a block of a GEMM output `c` (`ld` wide) whose columns are the whole planes of
    /// consecutive images from `firstImage`, `plane` columns each, into each image's place in Y.
    func finishGathered(_ c: UnsafePointer<Float>, ld: Int, rows: Range<Int>, columns: Range<Int>,
                                into Y: UnsafeMutablePointer<Float>, firstImage: Int, plane p: Int, firstChannel: Int,
                                finish: Finish) {
        var start = columns.lowerBound
        while start < columns.upperBound {
            let image = start / p
            let end = Swift.min(columns.upperBound, (image + 1) * p)
            let y = Y + ((firstImage + image) * outChannels + firstChannel + rows.lowerBound) * p + start - image * p
            finishRows(c + rows.lowerBound * ld + start, sourceStride: ld, into: y,
                       channels: (firstChannel + rows.lowerBound)..<(firstChannel + rows.upperBound), stride: p,
                       count: end - start, finish: finish)
            start = end
        }
    }

    /// How many images' planes of `plane` columns one GEMM takes side by side when a batch's
    /// planes are small: up to 2048 columns, and a panel of `depth` rows of at most 2M floats.
    static func imagesPerGEMM(plane: Int, depth: Int, images: Int) -> Int {
        guard images > 1, plane < 256 else { return 1 }
        return Swift.max(1, Swift.min(images, 2048 / plane, (1 << 21) / Swift.max(1, depth * plane)))
    }
}
