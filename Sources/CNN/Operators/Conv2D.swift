import Foundation

/// 2-D convolution (cross-correlation, as every framework computes it) over NCHW input, with
/// stride, dilation, groups (depthwise included), any padding, optional bias and a fused
/// activation. Given a second input of the output's shape, it adds it before the activation: a
/// residual connection fused for inference (`Graph.optimizedForInference`).
///
/// General convolutions run as im2col + GEMM, 1x1 stride-1 convolutions as a plain GEMM on the
/// NCHW planes, depthwise ones and first layers (few input channels) through direct kernels,
/// and 3x3 stride-1 ones with many channels, at inference, through Winograd.
public final class Conv2D: Operator {
    public let kind = "conv2d"
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: (h: Int, w: Int)
    public let dilation: (h: Int, w: Int)
    public let padding: Padding
    public let groups: Int
    public var activation: Activation?
    private var winograd: WinogradFilters?
    private var winogradInputGradient: WinogradFilters?
    private let winogradLock = NSLock()

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }
    public var outChannels: Int { weight.value.shape[0] }
    public var inChannels: Int { weight.value.shape[1] * groups }
    public var kernel: (h: Int, w: Int) { (weight.value.shape[2], weight.value.shape[3]) }

    /// `weight` is [out, in / groups, kh, kw].
    public init(weight: Parameter, bias: Parameter?, stride: (Int, Int) = (1, 1),
                dilation: (Int, Int) = (1, 1), padding: Padding = .zero, groups: Int = 1,
                activation: Activation? = nil) {
        precondition(weight.value.rank == 4, "conv weight must be [out, in/groups, kh, kw]")
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.dilation = dilation
        self.padding = padding
        self.groups = groups
        self.activation = activation
    }

    func window(for shape: [Int]) throws -> Window {
        try Window(kernel: kernel, stride: stride, dilation: dilation, padding: padding,
                   inputHeight: shape[2], inputWidth: shape[3])
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard (1...2).contains(inputShapes.count), inputShapes[0].count == 4 else {
            throw ShapeError("expects one NCHW input and an optional residual, got \(inputShapes)")
        }
        let shape = inputShapes[0]
        guard groups > 0, outChannels % groups == 0, shape[1] == inChannels else {
            throw ShapeError("input has \(shape[1]) channels; weight \(weight.value.shape) with \(groups) groups needs \(inChannels)")
        }
        let w = try window(for: shape)
        let output = [shape[0], outChannels, w.outputHeight, w.outputWidth]
        guard inputShapes.count == 1 || inputShapes[1] == output else {
            throw ShapeError("the residual \(inputShapes[1]) does not match the output \(output)")
        }
        return output
    }

    private var isPointwise: Bool {
        kernel == (1, 1) && stride == (1, 1) && padding.amounts(input: 1, kernel: 1, stride: 1, dilation: 1, axis: 0) == (0, 0)
            && padding.amounts(input: 1, kernel: 1, stride: 1, dilation: 1, axis: 1) == (0, 0)
    }

    private var isDepthwise: Bool { groups > 1 && weight.value.shape[1] == 1 }

    /// The Winograd-transformed filters for inference, made on first use and again whenever the
    /// weights change; nil where F(2x2, 3x3) does not apply.
    private func winogradFilters(for window: Window) -> WinogradFilters? {
        guard WinogradFilters.applies(window: window, groups: groups, inChannels: inChannels,
                                      outChannels: outChannels) else { return nil }
        return cached(\.winograd, made: WinogradFilters.init(weight:))
    }

    /// The transformed filters of the convolution that carries the output gradient (`outChannels`
    /// planes) back to the input (`inChannels` planes), on the same terms as the forward ones.
    private func winogradInputGradientFilters(for window: Window) -> WinogradFilters? {
        guard stride == (1, 1), dilation == (1, 1),
              WinogradFilters.applies(window: window.inputGradientWindow, groups: groups, inChannels: outChannels,
                                      outChannels: inChannels) else { return nil }
        return cached(\.winogradInputGradient, made: WinogradFilters.init(inputGradientOf:))
    }

    /// The filters in `slot` if they still match the weights, else new ones. Executors on several
    /// threads share the operator, hence the lock.
    private func cached(_ slot: ReferenceWritableKeyPath<Conv2D, WinogradFilters?>,
                        made make: (Tensor) -> WinogradFilters) -> WinogradFilters {
        winogradLock.lock()
        defer { winogradLock.unlock() }
        if let filters = self[keyPath: slot], filters.isCurrent(for: weight.value) { return filters }
        let filters = make(weight.value)
        self[keyPath: slot] = filters
        return filters
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let x = inputs[0]
        let w = try! window(for: x.shape)
        let (n, cin, cout) = (x.shape[0], x.shape[1], outChannels)
        let (coutg, p) = (cout / groups, w.outputHeight * w.outputWidth)
        let (X, Y) = (UnsafePointer(x.scalars), output.scalars)
        let residual = inputs.count > 1 ? Residual(output: Y, addend: inputs[1].scalars) : nil
        weight.value.scalars.withUnsafeBufferPointer { wb in
            let Wt = wb.baseAddress!
            if isDepthwise {
                depthwiseForward(X, Wt, Y, batch: n, channels: cin, multiplier: coutg, window: w)
                finishOutput(Y, planes: n * cout, channels: cout, plane: p, residual: residual)
            } else if isPointwise {
                pointwiseForward(X, Wt, Y, batch: n, plane: p, residual: residual, workspace: context.workspace,
                                 gathers: !context.isTraining)
            } else if let direct = DirectConvolution(inChannels: cin, outChannels: cout, groups: groups, window: w) {
                direct.forward(X, weight: Wt, Y, batch: n, workspace: context.workspace) { image, rows in
                    finishRows(Y + image * cout * p + rows.lowerBound * w.outputWidth, channels: 0..<cout, stride: p,
                               count: rows.count * w.outputWidth, residual: residual)
                }
            } else if !context.isTraining, let filters = winogradFilters(for: w) {
                filters.forward(X, Y, batch: n, window: w, workspace: context.workspace) { plane, rows, channels in
                    finishRows(plane + channels.lowerBound * p + rows.lowerBound * w.outputWidth,
                               channels: channels, stride: p, count: rows.count * w.outputWidth,
                               residual: residual)
                }
            } else {
                unrolledForward(X, Wt, Y, workspace: context.workspace, batch: n, window: w, residual: residual,
                                gathers: !context.isTraining)
            }
        }
    }

    /// The tensor a fused residual connection adds, addressed by the output position it adds to.
    private struct Residual {
        let output: UnsafeMutablePointer<Float>
        let addend: UnsafeMutablePointer<Float>

        func addend(at y: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> { UnsafePointer(addend + (y - output)) }
    }

    /// A 1x1 convolution is one GEMM per image and group. With at least as many of those as
    /// threads (grouped convolutions, as in ShuffleNet; batches), each thread takes whole ones;
    /// otherwise each GEMM splits across the threads. Either way each block of output is
    /// finished by the thread that computed it, while it is in cache.
    private func pointwiseForward(_ X: UnsafePointer<Float>, _ Wt: UnsafePointer<Float>, _ Y: UnsafeMutablePointer<Float>,
                                  batch n: Int, plane p: Int, residual: Residual?, workspace: Workspace, gathers: Bool) {
        let (cin, cout, cg, coutg) = (inChannels, outChannels, inChannels / groups, outChannels / groups)
        let images = Conv2D.imagesPerGEMM(plane: p, depth: cin, images: n)
        if gathers && groups == 1 && images > 1 {
            pointwiseForwardGathered(X, Wt, Y, batch: n, plane: p, imagesPerGEMM: images, residual: residual, workspace: workspace)
            return
        }
        func multiply(_ product: Int, parallel: Bool) {
            let (s, g) = product.quotientAndRemainder(dividingBy: groups)
            let y = Y + (s * cout + g * coutg) * p
            sgemm(m: coutg, n: p, k: cg, a: Wt + g * coutg * cg, lda: cg, b: X + (s * cin + g * cg) * p, ldb: p,
                  c: y, ldc: p, parallel: parallel) { rows, columns in
                finishBlock(y, firstChannel: g * coutg, rows: rows, columns: columns, stride: p, residual: residual)
            }
        }
        let products = n * groups
        guard products < EngineThreads.count else {
            parallelFor(products, cost: 2 * coutg * cg * p) { range in
                for product in range { multiply(product, parallel: false) }
            }
            return
        }
        for product in 0..<products { multiply(product, parallel: true) }
    }

    /// Small planes of a batch as one GEMM per group of images: their inputs copied side by
    /// side, so that the weights are streamed once for all of them (a 7x7 plane is a GEMM of 49
    /// columns, which spends most of its time fetching and packing weights), and the product
    /// finished into each image's place.
    private func pointwiseForwardGathered(_ X: UnsafePointer<Float>, _ Wt: UnsafePointer<Float>, _ Y: UnsafeMutablePointer<Float>,
                                          batch n: Int, plane p: Int, imagesPerGEMM: Int, residual: Residual?,
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
                                   firstChannel: 0, residual: residual)
                }
            }
        }
    }

    /// im2col + GEMM in bands of output rows, each small enough for its unrolled panel to stay
    /// in cache (and the workspace small): a band is unrolled, multiplied and finished while it
    /// is in cache, by one thread or, when bands are fewer than threads, by all of them.
    private func unrolledForward(_ X: UnsafePointer<Float>, _ Wt: UnsafePointer<Float>, _ Y: UnsafeMutablePointer<Float>,
                                 workspace: Workspace, batch n: Int, window w: Window, residual: Residual?, gathers: Bool) {
        let (cin, cout, cg, coutg) = (inChannels, outChannels, inChannels / groups, outChannels / groups)
        let (hw, Ho, Wo) = (w.inputHeight * w.inputWidth, w.outputHeight, w.outputWidth)
        let (p, k) = (Ho * Wo, cg * kernel.h * kernel.w)
        let images = Conv2D.imagesPerGEMM(plane: p, depth: k, images: n)
        if gathers && groups == 1 && images > 1 {
            unrolledForwardGathered(X, Wt, Y, workspace: workspace, batch: n, window: w, imagesPerGEMM: images, residual: residual)
            return
        }
        let bandRows = Conv2D.bandRows(rows: Ho, width: Wo, depth: k, images: n, threads: EngineThreads.count)
        let bands = (Ho + bandRows - 1) / bandRows
        for g in 0..<groups {
            let filters = Wt + g * coutg * k
            forEachBand(n * bands, scratch: k * bandRows * Wo, cost: 2 * k * coutg * bandRows * Wo,
                        workspace: workspace) { band, col, splitsGEMM in
                let (s, b) = band.quotientAndRemainder(dividingBy: bands)
                let rows = (b * bandRows)..<Swift.min(Ho, (b + 1) * bandRows)
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
                                residual: residual)
                }
            }
        }
    }

    /// Small planes of a batch unrolled side by side into one panel, so that one GEMM streams the
    /// weights once for all of them (ResNet-50's 512-channel 7x7 layers multiply 49 columns per
    /// image against 9 MB of weights), and the product finished into each image's place.
    private func unrolledForwardGathered(_ X: UnsafePointer<Float>, _ Wt: UnsafePointer<Float>, _ Y: UnsafeMutablePointer<Float>,
                                         workspace: Workspace, batch n: Int, window w: Window, imagesPerGEMM: Int,
                                         residual: Residual?) {
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
                                   firstChannel: 0, residual: residual)
                }
            }
        }
    }

    /// The output rows of one band: few enough that the band's panel of unrolled columns fits
    /// in cache, at least 256 columns wide so that GEMM stays efficient, and, when bands are few,
    /// more of them (down to 128 columns) so that each thread has about four to claim and they
    /// finish together, their number a multiple of the thread count.
    private static func bandRows(rows: Int, width: Int, depth: Int, images: Int, threads: Int) -> Int {
        let columns = Swift.max(256, (1 << 17) / Swift.max(depth, 1))
        var bands = Swift.min(rows, Swift.max(1, (rows * width) / columns))
        if images * bands < 4 * threads && bands > 1 {
            bands = Swift.max(bands, Swift.min(rows, (4 * threads + images - 1) / images, rows * width / 128))
            bands = Swift.min(rows, (bands + threads - 1) / threads * threads)
        }
        return (rows + bands - 1) / bands
    }

    /// Adds the bias and applies the activation in one pass over whole output planes.
    private func finishOutput(_ y: UnsafeMutablePointer<Float>, planes: Int, channels: Int, plane: Int,
                              residual: Residual?) {
        guard bias != nil || activation != nil || residual != nil else { return }
        parallelFor(planes, cost: plane) { range in
            for q in range {
                finishRows(y + q * plane, channels: (q % channels)..<(q % channels + 1), stride: plane, count: plane,
                           residual: residual)
            }
        }
    }

    /// Bias and activation over one finished GEMM block of a group's output `y` (rows are output
    /// channels from `firstChannel`, `stride` apart).
    private func finishBlock(_ y: UnsafeMutablePointer<Float>, firstChannel: Int, rows: Range<Int>, columns: Range<Int>,
                             stride: Int, residual: Residual?) {
        finishRows(y + rows.lowerBound * stride + columns.lowerBound,
                   channels: (firstChannel + rows.lowerBound)..<(firstChannel + rows.upperBound), stride: stride,
                   count: columns.count, residual: residual)
    }

    /// Bias, residual and activation over `count` scalars of each channel's row, rows `stride` apart.
    private func finishRows(_ y: UnsafeMutablePointer<Float>, channels: Range<Int>, stride: Int, count: Int,
                            residual: Residual?) {
        finishRows(y, sourceStride: stride, into: y, channels: channels, stride: stride, count: count, residual: residual)
    }

    /// The same from rows of `x` (`sourceStride` apart) into rows of `y`, which may be the same.
    private func finishRows(_ x: UnsafePointer<Float>, sourceStride: Int, into y: UnsafeMutablePointer<Float>,
                            channels: Range<Int>, stride: Int, count: Int, residual: Residual?) {
        guard bias != nil || activation != nil || residual != nil || x != UnsafePointer(y) else { return }
        let b = bias?.value.scalars
        for (r, c) in channels.enumerated() {
            let row = y + r * stride
            let (source, add, addend) = (x + r * sourceStride, b?[c] ?? 0, residual?.addend(at: row))
            if let activation {
                activation.apply(source, bias: add, adding: addend, into: row, count: count)
            } else {
                mapLanes(source, adding: addend, bias: add, into: row, count: count) { $0 }
            }
        }
    }

    /// Finishes a block of a GEMM output `c` (`ld` wide) whose columns are the whole planes of
    /// consecutive images from `firstImage`, `plane` columns each, into each image's place in Y.
    private func finishGathered(_ c: UnsafePointer<Float>, ld: Int, rows: Range<Int>, columns: Range<Int>,
                                into Y: UnsafeMutablePointer<Float>, firstImage: Int, plane p: Int, firstChannel: Int,
                                residual: Residual?) {
        var start = columns.lowerBound
        while start < columns.upperBound {
            let image = start / p
            let end = Swift.min(columns.upperBound, (image + 1) * p)
            let y = Y + ((firstImage + image) * outChannels + firstChannel + rows.lowerBound) * p + start - image * p
            finishRows(c + rows.lowerBound * ld + start, sourceStride: ld, into: y,
                       channels: (firstChannel + rows.lowerBound)..<(firstChannel + rows.upperBound), stride: p,
                       count: end - start, residual: residual)
            start = end
        }
    }

    /// How many images' planes of `plane` columns one GEMM takes side by side when a batch's
    /// planes are small: up to 2048 columns, and a panel of `depth` rows of at most 2M floats.
    static func imagesPerGEMM(plane: Int, depth: Int, images: Int) -> Int {
        guard images > 1, plane < 256 else { return 1 }
        return Swift.max(1, Swift.min(images, 2048 / plane, (1 << 21) / Swift.max(1, depth * plane)))
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let x = inputs[0]
        let w = try! window(for: x.shape)
        var gy = outputGradient
        activation?.backpropagate(&gy, output: output, rule: context.rule)
        let (n, cin, cout) = (x.shape[0], x.shape[1], outChannels)
        let (cg, coutg) = (cin / groups, cout / groups)
        let (hw, p) = (x.shape[2] * x.shape[3], w.outputHeight * w.outputWidth)
        let wantsWeights = context.computesParameterGradients && weight.isTrainable
        if context.computesParameterGradients, let bias, bias.isTrainable {
            gy.scalars.withUnsafeBufferPointer { g in
                for s in 0..<n {
                    for c in 0..<cout {
                        bias.gradient.scalars[c] += planeSum(g.baseAddress! + (s * cout + c) * p, count: p)
                    }
                }
            }
        }
        let wantsInput = context.needsInputGradients
        let winograd = wantsInput && !isDepthwise && !isPointwise ? winogradInputGradientFilters(for: w) : nil
        // Winograd writes every scalar of dx; the other routes accumulate into zeros.
        var dx = winograd.map { filters in
            Tensor(shape: x.shape) { dX in
                gy.scalars.withUnsafeBufferPointer { G in
                    filters.forward(G.baseAddress!, dX.baseAddress!, batch: n, window: w.inputGradientWindow,
                                    workspace: context.workspace) { _, _, _ in }
                }
            }
        } ?? Tensor(zeros: wantsInput || isDepthwise ? x.shape : [1])
        // Weight gradients gather in a local buffer so that a backward pass that does not want
        // them (saliency, possibly on several threads) never touches the shared parameter.
        var dWeight = Tensor(zeros: wantsWeights ? weight.value.shape : [1])
        x.scalars.withUnsafeBufferPointer { xb in
            weight.value.scalars.withUnsafeBufferPointer { wb in
                dWeight.scalars.withUnsafeMutableBufferPointer { dwb in
                    gy.scalars.withUnsafeBufferPointer { gb in
                        dx.scalars.withUnsafeMutableBufferPointer { dxb in
                            let (X, Wt, dW, G, dX) = (xb.baseAddress!, wb.baseAddress!, dwb.baseAddress!,
                                                      gb.baseAddress!, dxb.baseAddress!)
                            if isDepthwise {
                                depthwiseBackward(X, Wt, G, dX, wantsWeights ? dW : nil, batch: n, channels: cin,
                                                  multiplier: coutg, window: w)
                            } else if isPointwise {
                                for s in 0..<n {
                                    for g in 0..<groups {
                                        let gOff = G + (s * cout + g * coutg) * p
                                        let xOff = X + (s * cin + g * cg) * hw
                                        if wantsInput {
                                            sgemm(transposeA: true, m: cg, n: p, k: coutg, a: Wt + g * coutg * cg, lda: cg,
                                                  b: gOff, ldb: p, c: dX + (s * cin + g * cg) * hw, ldc: hw)
                                        }
                                        if wantsWeights {
                                            sgemm(transposeB: true, m: coutg, n: cg, k: p, a: gOff, lda: p, b: xOff,
                                                  ldb: hw, beta: 1, c: dW + g * coutg * cg, ldc: cg)
                                        }
                                    }
                                }
                            } else {
                                unrolledBackward(X, Wt, G, dX: wantsInput && winograd == nil ? dX : nil,
                                                 dW: wantsWeights ? dW : nil, workspace: context.workspace,
                                                 batch: n, window: w)
                            }
                        }
                    }
                }
            }
        }
        if wantsWeights { weight.gradient.add(dWeight) }
        // The residual reaches the output through the activation alone.
        return [wantsInput ? dx : nil] + (inputs.count > 1 ? [gy] : [])
    }

    /// The gradients through the unrolled columns, each only where its pointer is given: the
    /// weights' as dY · colsᵀ, the input's as Wᵀ · dY scattered back into the planes by col2im.
    private func unrolledBackward(_ X: UnsafePointer<Float>, _ Wt: UnsafePointer<Float>, _ G: UnsafePointer<Float>,
                                  dX: UnsafeMutablePointer<Float>?, dW: UnsafeMutablePointer<Float>?,
                                  workspace: Workspace, batch n: Int, window w: Window) {
        guard dX != nil || dW != nil else { return }
        let (cin, cout, cg, coutg) = (inChannels, outChannels, inChannels / groups, outChannels / groups)
        let (hw, p, taps) = (w.inputHeight * w.inputWidth, w.outputHeight * w.outputWidth, kernel.h * kernel.w)
        let (k, columns) = (cg * taps, n * p)
        workspace.withBuffers(k * columns, coutg * columns) { col, buffer in
            for g in 0..<groups {
                // One sample's gradient already has the [coutg, columns] layout the GEMMs take.
                let gathered = n == 1 ? G + g * coutg * p : UnsafePointer(buffer)
                if n > 1 {
                    parallelFor(coutg, cost: columns) { channels in
                        for co in channels {
                            for s in 0..<n {
                                (buffer + co * columns + s * p).update(from: G + (s * cout + g * coutg + co) * p, count: p)
                            }
                        }
                    }
                }
                if let dW {
                    parallelFor(n, cost: k * p) { samples in
                        for s in samples {
                            im2col(X + (s * cin + g * cg) * hw, channels: cg, window: w,
                                   rows: 0..<w.outputHeight, col: col, ld: columns, offset: s * p)
                        }
                    }
                    sgemm(transposeB: true, m: coutg, n: k, k: columns, a: gathered, lda: columns,
                          b: col, ldb: columns, beta: 1, c: dW + g * coutg * k, ldc: k)
                }
                guard let dX else { continue }
                sgemm(transposeA: true, m: k, n: columns, k: coutg, a: Wt + g * coutg * k, lda: k,
                      b: gathered, ldb: columns, c: col, ldc: columns)
                // Each channel scatters into its own planes of dX, so channels split across threads.
                parallelFor(cg, cost: n * taps * p) { channels in
                    for s in 0..<n {
                        col2im(col + channels.lowerBound * taps * columns, ld: columns, offset: s * p,
                               channels: channels.count, window: w,
                               into: dX + (s * cin + g * cg + channels.lowerBound) * hw)
                    }
                }
            }
        }
    }
}
