import CKernels

/// A convolution computed directly by the AVX2 kernel in CKernels, a band of output rows at a
/// time: a network's first layer (a few colour channels, up to 11x11 taps), and grouped
/// convolutions of 8 to 56 channels a group (RegNetX, ResNeXt), one group at a time.
/// im2col + GEMM unrolled first layers into panels only 27-147 deep: ResNet-50's 7x7 stem took
/// 4.2 ms against onnxruntime's 2.0 on an Intel VM, and 3.7 ms on a Zen 3 one, where this takes
/// 3.0. Grouped layers went through one im2col and one GEMM of 8-56 output rows per group,
/// each too small for OpenBLAS to reach speed on.
struct DirectConvolution {
    /// One group's convolution.
    private var shape: salient_direct_convolution
    private let groups: Int

    /// nil unless the layer has at most four input channels and no groups, or groups of 8 to 56
    /// input channels (at most 512 taps a group), no dilation, output channels in fours a
    /// group, strides no longer than the kernel, and the CPU has AVX2 and FMA.
    init?(inChannels: Int, outChannels: Int, groups: Int, window w: Window) {
        guard w.dilation == (1, 1), groups > 0, inChannels % groups == 0, outChannels % groups == 0 else { return nil }
        let perGroup = inChannels / groups
        guard groups == 1 ? inChannels <= 4 : (8...56).contains(perGroup) else { return nil }
        self.groups = groups
        shape = salient_direct_convolution(
            inChannels: Int32(perGroup), outChannels: Int32(outChannels / groups),
            inputHeight: Int32(w.inputHeight), inputWidth: Int32(w.inputWidth),
            kernelHeight: Int32(w.kernel.h), kernelWidth: Int32(w.kernel.w),
            strideHeight: Int32(w.stride.h), strideWidth: Int32(w.stride.w),
            padTop: Int32(w.padTop), padLeft: Int32(w.padLeft),
            outputHeight: Int32(w.outputHeight), outputWidth: Int32(w.outputWidth))
        guard salient_direct_convolution_applies(&shape) else { return nil }
    }

    /// Convolves `batch` images of `x` with `weight` [out][in / groups][kh][kw] into `y`, without
    /// bias, and calls `finish(image, channels, rows)` for each band of output rows of a group's
    /// channels once it is written, on the thread that wrote it.
    func forward(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int,
                 workspace: Workspace, finish: (_ image: Int, _ channels: Range<Int>, _ rows: Range<Int>) -> Void) {
        var shape = shape
        let (rows, width, groups) = (Int(shape.outputHeight), Int(shape.outputWidth), groups)
        let groupInput = Int(shape.inChannels * shape.inputHeight * shape.inputWidth)
        let outChannels = Int(shape.outChannels)
        let groupOutput = outChannels * rows * width
        // Bands of about eight rows: the input rows they read stay in L1 across all channels.
        let bandRows = (rows + Swift.max(1, rows / 8) - 1) / Swift.max(1, rows / 8)
        let bands = (rows + bandRows - 1) / bandRows
        let scratch = salient_direct_convolution_scratch(&shape, Int32(bandRows))
        let threads = EngineThreads.count
        let packedCount = salient_direct_convolution_packed_count(&shape)
        let cost = 2 * packedCount * bandRows * width
        workspace.withBuffers(scratch * threads, packedCount * groups) { buffer, packed in
            // Packed by both threads: on one, RegNetX-400MF's 16 grouped layers spent 0.3 ms
            // (2% of the network) with the other thread idle.
            parallelFor(groups, cost: packedCount) { range in
                var shape = shape
                for g in range { salient_direct_convolution_pack(&shape, weight + g * packedCount, packed + g * packedCount) }
            }
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
