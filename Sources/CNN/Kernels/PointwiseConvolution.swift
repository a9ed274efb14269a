import CKernels

/// A 1x1 convolution without padding through CKernels' pointwise kernel: the weights packed once
/// into panels of six output channels, the input planes read in place or copied into tiles (with
/// strides, the columns the layer reads gathered into them), and bias, residual and activation
/// applied to each tile while it is in registers.
///
/// OpenBLAS packs both operands on every call and leaves the finish to another pass over the
/// output: MobileNet's expansion layers (16-24 input channels on planes of 3136-12544 columns)
/// ran at 4-17 GFLOP/s through it in the network.
struct PointwiseFilters: DerivedFilters {
    /// Each group's packed weights, one after another.
    let packed: [Float]
    /// The weights `packed` came from: holding their storage makes any later write to the
    /// parameter copy it, so a changed base address tells that `packed` is stale.
    private let source: [Float]
    let outChannels: Int
    let inChannels: Int
    let groups: Int

    /// `weight` is [out, in / groups, 1, 1].
    init(weight: Tensor, groups: Int) {
        self.init(weight: weight, groups: groups, transposed: false)
    }

    /// The filters of the 1x1 convolution that carries the output gradient of `weight`'s layer
    /// back to its input, dx = wᵀ dy: each group's weights transposed, in and out swapped.
    /// Through OpenBLAS, which packs both operands on every call, that product took a third of
    /// ConvNeXt's saliency time on two threads.
    init(inputGradientOf weight: Tensor, groups: Int) {
        self.init(weight: weight, groups: groups, transposed: true)
    }

    private init(weight: Tensor, groups: Int, transposed: Bool) {
        let (coutg, cg) = (weight.shape[0] / groups, weight.shape[1])
        let (rows, depth) = transposed ? (cg, coutg) : (coutg, cg)
        let stride = salient_pointwise_packed_count(Int32(rows), Int32(depth))
        var packed = [Float](repeating: 0, count: stride * groups)
        var turned = [Float](repeating: 0, count: transposed ? rows * depth : 0)
        weight.scalars.withUnsafeBufferPointer { w in
            packed.withUnsafeMutableBufferPointer { p in
                turned.withUnsafeMutableBufferPointer { t in
                    for g in 0..<groups {
                        let group = w.baseAddress! + g * coutg * cg
                        // In tiles of 32 x 32, so that the reads and the writes both stay in cache:
                        // ConvNeXt-Small's 47 M weights in 1x1 layers, turned once for its first
                        // saliency map, took 1.6% of nine maps' samples under perf element by
                        // element, 1.1% in tiles.
                        for o0 in Swift.stride(from: 0, to: coutg, by: 32) where transposed {
                            for i0 in Swift.stride(from: 0, to: cg, by: 32) {
                                for o in o0..<Swift.min(coutg, o0 + 32) {
                                    for i in i0..<Swift.min(cg, i0 + 32) { t[i * coutg + o] = group[o * cg + i] }
                                }
                            }
                        }
                        salient_pointwise_pack(Int32(rows), Int32(depth), transposed ? UnsafePointer(t.baseAddress!) : group,
                                               p.baseAddress! + g * stride)
                    }
                }
            }
        }
        self.packed = packed
        source = weight.scalars
        outChannels = rows * groups
        inChannels = depth * groups
        self.groups = groups
    }

    func isCurrent(for weight: Tensor) -> Bool {
        source.withUnsafeBufferPointer { a in weight.scalars.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress } }
    }

    /// Convolves `batch` images of `plane` output positions: y = f(w x + bias + residual), `pre`
    /// receiving f's argument when given; residual and pre are laid out as y. x's planes are
    /// y's size, or, `gathering` an unpadded 1x1 window with strides, its input's, each output
    /// position reading the input position the window puts it on. Each image and group is cut
    /// into blocks of columns (large planes) or of output channels (small ones), about four per
    /// thread, each computed and finished by one thread.
    func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, plane p: Int,
                 gathering window: Window? = nil, bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
                 activation: Activation?, preActivation pre: UnsafeMutablePointer<Float>?, workspace: Workspace) {
        let strides = window.map { w in
            salient_pointwise_strides(inputPlane: w.inputHeight * w.inputWidth, inputWidth: Int32(w.inputWidth),
                                      outputWidth: Int32(w.outputWidth), strideHeight: Int32(w.stride.h),
                                      strideWidth: Int32(w.stride.w))
        }
        let (cg, coutg) = (inChannels / groups, outChannels / groups)
        let stride = salient_pointwise_packed_count(Int32(coutg), Int32(cg))
        let threads = EngineThreads.count
        let products = batch * groups
        // Pieces per image and group: columns in multiples of 16 (at least 128), channels in
        // whole panels. Where the kernel copies its columns of the input into tiles first (deep
        // layers), pieces of channels over the same columns each made that copy again: only the
        // fewest that make the pieces a multiple of the threads then (one per thread for one
        // image). At one thread four pieces of 1152 -> 192 channels on 7x7 copied its 225 KB
        // input four times; at two, eight pieces of 400 -> 400 on 7x7 ran 1.5x faster than one
        // thread where the layers beside them ran 1.8-1.9x faster.
        let wanted = Swift.max(1, (4 * threads + products - 1) / products)
        let block = Int(salient_pointwise_channel_block())
        let columnPieces = Swift.max(1, Swift.min(wanted, p / 128))
        let wantedChannelPieces = salient_pointwise_packs_input(Int32(cg), p, strides == nil ? 0 : 1) != 0
            ? threads / greatestCommonDivisor(products * columnPieces, threads)
            : (wanted + columnPieces - 1) / columnPieces
        let channelPieces = Swift.max(1, Swift.min(wantedChannelPieces, coutg / block))
        let columnsPerPiece = ((p + columnPieces - 1) / columnPieces + 15) / 16 * 16
        let panels = (coutg + block - 1) / block
        let scratch = salient_pointwise_scratch(Int32(cg), Int32(coutg))
        let kernel = activation?.kernel ?? salient_activation(kind: salient_identity, alpha: 0, beta: 0)
        let inputPlane = strides.map { Int($0.inputPlane) } ?? p
        withUnsafePointer(to: strides ?? salient_pointwise_strides()) { layout in
            let layout = strides == nil ? nil : layout
            packed.withUnsafeBufferPointer { packed in
                workspace.withBuffer(count: scratch * threads) { buffer in
                    parallelChunks(products * columnPieces * channelPieces, cost: 2 * cg * columnsPerPiece * coutg / channelPieces,
                                   threads: threads) { slot, range in
                        var kernel = kernel
                        for unit in range {
                            let (product, piece) = unit.quotientAndRemainder(dividingBy: columnPieces * channelPieces)
                            let (columnPiece, channelPiece) = piece.quotientAndRemainder(dividingBy: channelPieces)
                            let (s, g) = product.quotientAndRemainder(dividingBy: groups)
                            let first = columnPiece * columnsPerPiece
                            guard first < p else { continue }
                            let channels = (panels * channelPiece / channelPieces * block)..<Swift.min(coutg, panels * (channelPiece + 1) / channelPieces * block)
                            let offset = (s * outChannels + g * coutg) * p
                            salient_pointwise_convolution(packed.baseAddress! + g * stride, Int32(cg), Int32(coutg),
                                                          x + (s * inChannels + g * cg) * inputPlane, p, y + offset,
                                                          Int32(channels.lowerBound), Int32(channels.upperBound), first,
                                                          Swift.min(p, first + columnsPerPiece), bias.map { $0 + g * coutg },
                                                          residual.map { $0 + offset }, &kernel, pre.map { $0 + offset },
                                                          buffer + slot * scratch, layout)
                        }
                    }
                }
            }
        }
    }
}

func greatestCommonDivisor(_ a: Int, _ b: Int) -> Int {
    b == 0 ? a : greatestCommonDivisor(b, a % b)
}
