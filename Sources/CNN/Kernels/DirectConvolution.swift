import CKernels

/// A convolution computed directly by the AVX2 kernel in CKernels, a band of output rows at a
/// time: a network's first layer (a few colour channels, up to 11x11 taps), and grouped
/// convolutions of at least 4 channels a group (RegNet, ResNeXt), one group at a time, forward
/// and, at stride 1, the input gradient (`init(inputGradientOf:...)`).
/// im2col + GEMM unrolled first layers into panels only 27-147 deep: ResNet-50's 7x7 stem took
/// 4.2 ms against onnxruntime's 2.0 on an Intel VM, and 3.7 ms on a Zen 3 one, where this takes
/// 3.0. Grouped layers went through one im2col and one GEMM of 8-56 output rows per group,
/// each too small for OpenBLAS to reach speed on.
struct DirectConvolution {
    /// One group's convolution.
    private var shape: salient_direct_convolution
    private let groups: Int
    /// Whether the weights given to `forward` are a layer's whose input gradient this computes.
    private let rotatesWeights: Bool

    /// nil unless the layer has at most four input channels and no groups, or groups of at least
    /// 4 input channels (at most 4096 taps a group: 455 channels of 3x3; past 64 channels only
    /// on more than one thread or in tiles of positions), no dilation, output channels in fours a group, strides no
    /// longer than the kernel, and the CPU has AVX2 and FMA. Groups of 4 (ResNeXt 32x4d's first
    /// stage) took 32 GEMMs of four rows each through im2col; ResNeXt-101 32x8d's groups of 64
    /// one GEMM a group (the network 354-363 -> 345-349 ms at one thread).
    init?(inChannels: Int, outChannels: Int, groups: Int, window w: Window) {
        self.init(inChannels: inChannels, outChannels: outChannels, groups: groups, window: w, rotatesWeights: false)
    }

    /// The convolution that carries the output gradient of a stride-1 undilated layer
    /// (`inChannels` to `outChannels` in `groups`, over `window`) back to its input: the layer's
    /// taps turned by 180° with in and out swapped, over `Window.inputGradientWindow`, on the same
    /// terms as the forward one with the channel counts swapped. `forward` takes the layer's own
    /// weights. Grouped layers had gone through one GEMM a group into unrolled columns (36 rows
    /// by 4 deep in ResNeXt 32x4d's first stage) and col2im.
    init?(inputGradientOf inChannels: Int, outChannels: Int, groups: Int, window w: Window) {
        guard w.stride == (1, 1), w.dilation == (1, 1) else { return nil }
        self.init(inChannels: outChannels, outChannels: inChannels, groups: groups, window: w.inputGradientWindow,
                  rotatesWeights: true)
    }

    private init?(inChannels: Int, outChannels: Int, groups: Int, window w: Window, rotatesWeights: Bool) {
        guard w.dilation == (1, 1), groups > 0, inChannels % groups == 0, outChannels % groups == 0 else { return nil }
        let perGroup = inChannels / groups
        guard groups == 1 ? inChannels <= 4 : perGroup >= 4 else { return nil }
        self.groups = groups
        self.rotatesWeights = rotatesWeights
        shape = salient_direct_convolution(
            inChannels: Int32(perGroup), outChannels: Int32(outChannels / groups),
            inputHeight: Int32(w.inputHeight), inputWidth: Int32(w.inputWidth),
            kernelHeight: Int32(w.kernel.h), kernelWidth: Int32(w.kernel.w),
            strideHeight: Int32(w.stride.h), strideWidth: Int32(w.stride.w),
            padTop: Int32(w.padTop), padLeft: Int32(w.padLeft),
            outputHeight: Int32(w.outputHeight), outputWidth: Int32(w.outputWidth))
        guard salient_direct_convolution_applies(&shape) else { return nil }
        // Past 64 channels a group one GEMM a group ran at 80-86 GFLOP/s on one thread, 2-10%
        // ahead of the kernel's columns by four channels (RegNetX-8GF's groups of 120: the network
        // 175 -> 183 ms); on two threads, where those GEMMs split badly, the kernel took it from
        // 125-135 to 99-108 ms. Its tiles of positions by channels (AVX-512VL) run such groups at
        // 90-105 GFLOP/s on one thread, ahead of GEMM.
        guard groups == 1 || perGroup <= 64 || EngineThreads.count > 1
                || salient_direct_convolution_position_tiles(&shape) else { return nil }
    }

    /// `weight` ([out][in / groups][kh][kw], for the input gradient the layer's own) packed for
    /// `forward`, each group's after the other's, by all threads.
    func pack(_ weight: Tensor) -> [Float] {
        var shape = shape
        let (count, groups, rotatesWeights) = (salient_direct_convolution_packed_count(&shape), groups, rotatesWeights)
        return [Float](unsafeUninitializedCapacity: count * groups) { buffer, initialized in
            let packed = buffer.baseAddress!
            weight.scalars.withUnsafeBufferPointer { w in
                parallelFor(groups, cost: count) { range in
                    var shape = shape
                    for g in range {
                        let (from, to) = (w.baseAddress! + g * count, packed + g * count)
                        if rotatesWeights {
                            salient_direct_convolution_pack_input_gradient(&shape, from, to)
                        } else {
                            salient_direct_convolution_pack(&shape, from, to)
                        }
                    }
                }
            }
            initialized = count * groups
        }
    }

    /// Convolves `batch` images of `x` with the `packed` weights into `y`, writing every scalar,
    /// without bias, and calls `finish(image, channels, rows)` for each band of output rows of a
    /// group's channels once it is written, on the thread that wrote it.
    func forward(_ x: UnsafePointer<Float>, packed: DirectFilters, _ y: UnsafeMutablePointer<Float>, batch: Int,
                 workspace: Workspace, finish: (_ image: Int, _ channels: Range<Int>, _ rows: Range<Int>) -> Void) {
        var shape = shape
        let (rows, width, groups) = (Int(shape.outputHeight), Int(shape.outputWidth), groups)
        let groupInput = Int(shape.inChannels * shape.inputHeight * shape.inputWidth)
        let outChannels = Int(shape.outChannels)
        let groupOutput = outChannels * rows * width
        // Bands of about eight rows. Their input can outgrow L1 (136 KB at stride 2 over 16
        // channels of 112x112), but bands of 1, 2 or 4 rows were slower on every RegNet and
        // ResNeXt shape: each lays out the rows its taps share with the next band again.
        let bandRows = (rows + Swift.max(1, rows / 8) - 1) / Swift.max(1, rows / 8)
        let bands = (rows + bandRows - 1) / bandRows
        let scratch = salient_direct_convolution_scratch(&shape, Int32(bandRows))
        let threads = EngineThreads.count
        let packedCount = salient_direct_convolution_packed_count(&shape)
        precondition(packed.packed.count == packedCount * groups, "weights packed for another convolution")
        let cost = 2 * packedCount * bandRows * width
        workspace.withBuffer(count: scratch * threads) { buffer in
            packed.packed.withUnsafeBufferPointer { p in
                let packed = p.baseAddress!
                // Bands of one group next to each other, so that a thread's bands share its weights.
                parallelChunks(batch * groups * bands, cost: cost, threads: threads) { slot, range in
                    for task in range {
                        let (plane, b) = task.quotientAndRemainder(dividingBy: bands)
                        let (first, end) = (b * bandRows, Swift.min(rows, (b + 1) * bandRows))
                        salient_direct_convolution_rows(&shape, x + plane * groupInput, packed + plane % groups * packedCount,
                                                        y + plane * groupOutput, Int32(first), Int32(end), buffer + slot * scratch)
                        let (image, g) = plane.quotientAndRemainder(dividingBy: groups)
                        finish(image, (g * outChannels)..<((g + 1) * outChannels), first..<end)
                    }
                }
            }
        }
    }
}

/// A layer's weights packed for the direct kernel (for its forward pass or its input gradient),
/// kept while the weights they came from are unchanged: packing them at every call had cost
/// 8-17% of RegNet's and ResNeXt's grouped layers on 7x7 planes at one thread.
struct DirectFilters: DerivedFilters {
    let packed: [Float]
    /// The weights `packed` came from: holding their storage makes any later write to the
    /// parameter copy it, so a changed base address tells that `packed` is stale.
    private let source: [Float]

    init(weight: Tensor, for kernel: DirectConvolution) {
        packed = kernel.pack(weight)
        source = weight.scalars
    }

    func isCurrent(for weight: Tensor) -> Bool {
        source.withUnsafeBufferPointer { a in weight.scalars.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress } }
    }
}
