import CKernels

/// A network's first layer (a few colour channels, up to 11x11 taps) computed directly by the
/// AVX2 kernel in CKernels, a band of output rows at a time. im2col + GEMM unrolled these
/// layers into panels only 27-147 deep: ResNet-50's 7x7 stem took 4.2 ms against
/// onnxruntime's 2.0 on an Intel VM, and 3.7 ms on a Zen 3 one, where this takes 3.0.
struct DirectConvolution {
    private var shape: salient_direct_convolution

    /// nil unless the layer has at most four input channels, no groups or dilation, output
    /// channels in fours, strides no longer than the kernel, and the CPU has AVX2 and FMA.
    init?(inChannels: Int, outChannels: Int, groups: Int, window w: Window) {
        guard groups == 1, inChannels <= 4, w.dilation == (1, 1) else { return nil }
        shape = salient_direct_convolution(
            inChannels: Int32(inChannels), outChannels: Int32(outChannels),
            inputHeight: Int32(w.inputHeight), inputWidth: Int32(w.inputWidth),
            kernelHeight: Int32(w.kernel.h), kernelWidth: Int32(w.kernel.w),
            strideHeight: Int32(w.stride.h), strideWidth: Int32(w.stride.w),
            padTop: Int32(w.padTop), padLeft: Int32(w.padLeft),
            outputHeight: Int32(w.outputHeight), outputWidth: Int32(w.outputWidth))
        guard salient_direct_convolution_applies(&shape) else { return nil }
    }

    /// Convolves `batch` images of `x` with `weight` [out][in][kh][kw] into `y`, without bias,
    /// and calls `finish(image, rows)` for each band of output rows once it is written, on the
    /// thread that wrote it.
    func forward(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int,
                 workspace: Workspace, finish: (_ image: Int, _ rows: Range<Int>) -> Void) {
        var shape = shape
        let (rows, width) = (Int(shape.outputHeight), Int(shape.outputWidth))
        let inputCount = Int(shape.inChannels * shape.inputHeight * shape.inputWidth)
        let outputCount = Int(shape.outChannels) * rows * width
        // Bands of about eight rows: the input rows they read stay in L1 across all channels.
        let bandRows = (rows + Swift.max(1, rows / 8) - 1) / Swift.max(1, rows / 8)
        let bands = (rows + bandRows - 1) / bandRows
        let scratch = salient_direct_convolution_scratch(&shape, Int32(bandRows))
        let threads = EngineThreads.count
        let cost = 2 * Int(salient_direct_convolution_packed_count(&shape)) * bandRows * width
        workspace.withBuffers(scratch * threads, salient_direct_convolution_packed_count(&shape)) { buffer, packed in
            salient_direct_convolution_pack(&shape, weight, packed)
            parallelChunks(batch * bands, cost: cost, threads: threads) { slot, range in
                for band in range {
                    let (image, b) = band.quotientAndRemainder(dividingBy: bands)
                    let (first, end) = (b * bandRows, Swift.min(rows, (b + 1) * bandRows))
                    salient_direct_convolution_rows(&shape, x + image * inputCount, packed, y + image * outputCount,
                                                    Int32(first), Int32(end), buffer + slot * scratch)
                    finish(image, first..<end)
                }
            }
        }
    }
}
