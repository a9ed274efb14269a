import Foundation

/// 2-D convolution (cross-correlation, as every framework computes it) over NCHW input, with
/// stride, dilation, groups (depthwise included), any padding, optional bias and a fused
/// activation. Given a second input of the output's shape, it adds it before the activation: a
/// residual connection fused for inference (`Graph.optimizedForInference`).
///
/// General convolutions run as im2col + GEMM, unpadded 1x1 convolutions through the pointwise
/// kernel on the NCHW planes, depthwise ones and first layers (few input channels) through direct kernels,
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
    private var pointwise: PointwiseFilters?
    private var pointwiseInputGradient: PointwiseFilters?
    private var direct: DirectFilters?
    private var directInputGradient: DirectFilters?
    /// Guards the filters derived from the weights, which executors on several threads share.
    private let filtersLock = NSLock()

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

    var isPointwise: Bool {
        kernel == (1, 1) && stride == (1, 1) && padding.amounts(input: 1, kernel: 1, stride: 1, dilation: 1, axis: 0) == (0, 0)
            && padding.amounts(input: 1, kernel: 1, stride: 1, dilation: 1, axis: 1) == (0, 0)
    }

    /// A 1x1 layer with strides and no padding over `window` (every ResNet-style downsampling
    /// shortcut): the pointwise kernel gathers the columns it reads.
    func isStridedPointwise(over window: Window) -> Bool {
        kernel == (1, 1) && window.stride != (1, 1)
            && (window.padTop, window.padLeft, window.padBottom, window.padRight) == (0, 0, 0, 0)
    }

    var isDepthwise: Bool { groups > 1 && weight.value.shape[1] == 1 }

    /// The Winograd-transformed filters for inference, made on first use and again whenever the
    /// weights change; nil where F(2x2, 3x3) does not apply.
    func winogradFilters(for window: Window) -> WinogradFilters? {
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

    /// The packed weights of a 1x1 convolution: made once for inference, and for every pass in
    /// training, whose optimizer steps would otherwise copy the weights the cache holds on to.
    func pointwiseFilters(isTraining: Bool) -> PointwiseFilters {
        let groups = groups
        guard !isTraining else { return PointwiseFilters(weight: weight.value, groups: groups) }
        return cached(\.pointwise) { PointwiseFilters(weight: $0, groups: groups) }
    }

    /// The transposed weights of a 1x1 layer packed for its input gradient, on the same terms.
    func pointwiseInputGradientFilters(isTraining: Bool) -> PointwiseFilters {
        let groups = groups
        guard !isTraining else { return PointwiseFilters(inputGradientOf: weight.value, groups: groups) }
        return cached(\.pointwiseInputGradient) { PointwiseFilters(inputGradientOf: $0, groups: groups) }
    }

    /// The weights packed for `kernel` (this layer's forward pass or, with `inputGradient`, its
    /// input gradient): made once for inference and saliency, and for every pass in training, as
    /// the 1x1 panels are.
    func directFilters(for kernel: DirectConvolution, inputGradient: Bool = false, isTraining: Bool) -> DirectFilters {
        guard !isTraining else { return DirectFilters(weight: weight.value, for: kernel) }
        return cached(inputGradient ? \.directInputGradient : \.direct) { DirectFilters(weight: $0, for: kernel) }
    }

    /// The filters in `slot` if they still match the weights, else new ones. Executors on several
    /// threads share the operator, hence the lock.
    private func cached<Filters: DerivedFilters>(_ slot: ReferenceWritableKeyPath<Conv2D, Filters?>,
                                                 made make: (Tensor) -> Filters) -> Filters {
        filtersLock.lock()
        defer { filtersLock.unlock() }
        if let filters = self[keyPath: slot], filters.isCurrent(for: weight.value) { return filters }
        let filters = make(weight.value)
        self[keyPath: slot] = filters
        return filters
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let x = inputs[0]
        let w = try! window(for: x.shape)
        var gy = outputGradient
        if let activation, !activation.isInvertibleFromOutput, let pre = context.saved(for: self, as: Tensor.self) {
            activation.backpropagate(&gy, input: pre)
        } else {
            activation?.backpropagate(&gy, output: output, rule: context.rule)
        }
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
        // Grouped stride-1 layers (RegNet's, ResNeXt's 3x3) carry the gradient back through the
        // direct kernel as a convolution of the output gradient.
        let direct = wantsInput && winograd == nil && !isDepthwise && !isPointwise
            ? DirectConvolution(inputGradientOf: cin, outChannels: cout, groups: groups, window: w) : nil
        let pointwise = wantsInput && isPointwise
            ? pointwiseInputGradientFilters(isTraining: context.computesParameterGradients) : nil
        // Winograd, the direct and the pointwise kernels write every scalar of dx; the other routes
        // accumulate into zeros.
        var dx = winograd.map { filters in
            Tensor(shape: x.shape) { dX in
                gy.scalars.withUnsafeBufferPointer { G in
                    filters.forward(G.baseAddress!, dX.baseAddress!, batch: n, window: w.inputGradientWindow,
                                    workspace: context.workspace) { _, _, _ in }
                }
            }
        } ?? direct.map { kernel in
            let packed = directFilters(for: kernel, inputGradient: true, isTraining: context.computesParameterGradients)
            return Tensor(shape: x.shape) { dX in
                gy.scalars.withUnsafeBufferPointer { G in
                    kernel.forward(G.baseAddress!, packed: packed, dX.baseAddress!, batch: n, workspace: context.workspace) { _, _, _ in }
                }
            }
        } ?? pointwise.map { filters in
            Tensor(shape: x.shape) { dX in
                gy.scalars.withUnsafeBufferPointer { G in
                    filters.forward(G.baseAddress!, dX.baseAddress!, batch: n, plane: p, bias: nil, residual: nil,
                                    activation: nil, preActivation: nil, workspace: context.workspace)
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
                            if isDepthwise, let kernel = DepthwiseConvolution(window: w) {
                                kernel.backward(X, Wt, G, wantsInput ? dX : nil, wantsWeights ? dW : nil, batch: n,
                                                channels: cin, multiplier: coutg, workspace: context.workspace)
                            } else if isDepthwise {
                                depthwiseBackward(X, Wt, G, dX, wantsWeights ? dW : nil, batch: n, channels: cin,
                                                  multiplier: coutg, window: w)
                            } else if isPointwise {
                                // The input gradient went through the pointwise kernel above.
                                for s in 0..<n where wantsWeights {
                                    for g in 0..<groups {
                                        sgemm(transposeB: true, m: coutg, n: cg, k: p, a: G + (s * cout + g * coutg) * p, lda: p,
                                              b: X + (s * cin + g * cg) * hw, ldb: hw, beta: 1, c: dW + g * coutg * cg, ldc: cg)
                                    }
                                }
                            } else {
                                unrolledBackward(X, Wt, G, dX: wantsInput && winograd == nil && direct == nil ? dX : nil,
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
