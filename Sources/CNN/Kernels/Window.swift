/// The geometry of a 2-D sliding window over one input size, resolved once.
struct Window {
    var kernel: (h: Int, w: Int)
    var stride: (h: Int, w: Int)
    var dilation: (h: Int, w: Int)
    var padTop = 0, padLeft = 0, padBottom = 0, padRight = 0
    var inputHeight = 0, inputWidth = 0
    var outputHeight = 0, outputWidth = 0

    init(kernel: (Int, Int), stride: (Int, Int), dilation: (Int, Int), padding: Padding,
         inputHeight: Int, inputWidth: Int, ceilMode: Bool = false) throws {
        self.kernel = kernel
        self.stride = stride
        self.dilation = dilation
        guard kernel.0 > 0, kernel.1 > 0, stride.0 > 0, stride.1 > 0, dilation.0 > 0, dilation.1 > 0 else {
            throw ShapeError("kernel, stride and dilation must be positive")
        }
        (padTop, padBottom) = padding.amounts(input: inputHeight, kernel: kernel.0, stride: stride.0,
                                              dilation: dilation.0, axis: 0)
        (padLeft, padRight) = padding.amounts(input: inputWidth, kernel: kernel.1, stride: stride.1,
                                              dilation: dilation.1, axis: 1)
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        outputHeight = Window.outputSize(inputHeight + padTop + padBottom, kernel.0, stride.0, dilation.0,
                                         padBefore: padTop, ceilMode: ceilMode, input: inputHeight)
        outputWidth = Window.outputSize(inputWidth + padLeft + padRight, kernel.1, stride.1, dilation.1,
                                        padBefore: padLeft, ceilMode: ceilMode, input: inputWidth)
        guard outputHeight > 0, outputWidth > 0 else {
            throw ShapeError("a \(kernel.0)x\(kernel.1) window does not fit a \(inputHeight)x\(inputWidth) input")
        }
    }

    private static func outputSize(_ padded: Int, _ k: Int, _ s: Int, _ d: Int, padBefore: Int,
                                   ceilMode: Bool, input: Int) -> Int {
        let effective = d * (k - 1) + 1
        guard padded >= effective else { return 0 }
        var size = ceilMode ? (padded - effective + s - 1) / s + 1 : (padded - effective) / s + 1
        // With ceil mode the last window must start inside the input or its left padding.
        if ceilMode, (size - 1) * s >= input + padBefore { size -= 1 }
        return size
    }

    var effectiveKernel: (h: Int, w: Int) {
        (dilation.h * (kernel.h - 1) + 1, dilation.w * (kernel.w - 1) + 1)
    }

    /// The window of the stride-1 convolution that carries the output gradient of this stride-1,
    /// undilated window back to its input: each input pixel is reached by taps up to k - 1 rows
    /// or columns before it and after it, so each side is padded by k - 1 minus its own padding
    /// (negative where the forward padding exceeded k - 1, which crops), and its output is the
    /// forward input's size.
    var inputGradientWindow: Window {
        precondition(stride == (1, 1) && dilation == (1, 1), "only stride-1 undilated windows transpose to a convolution")
        var g = self
        (g.padTop, g.padBottom) = (kernel.h - 1 - padTop, kernel.h - 1 - padBottom)
        (g.padLeft, g.padRight) = (kernel.w - 1 - padLeft, kernel.w - 1 - padRight)
        (g.inputHeight, g.inputWidth) = (outputHeight, outputWidth)
        (g.outputHeight, g.outputWidth) = (inputHeight, inputWidth)
        return g
    }
}

extension Window {
    /// Output rows whose window lies wholly inside the input, so that no tap needs a bounds check.
    var interiorRows: Range<Int> {
        Window.interior(padBefore: padTop, stride: stride.h, span: (kernel.h - 1) * dilation.h, input: inputHeight,
                        output: outputHeight)
    }

    var interiorColumns: Range<Int> {
        Window.interior(padBefore: padLeft, stride: stride.w, span: (kernel.w - 1) * dilation.w, input: inputWidth,
                        output: outputWidth)
    }

    private static func interior(padBefore: Int, stride: Int, span: Int, input: Int, output: Int) -> Range<Int> {
        let first = (padBefore + stride - 1) / stride
        let last = input - 1 - span + padBefore >= 0 ? (input - 1 - span + padBefore) / stride : -1
        return first <= min(last, output - 1) ? first..<(min(last, output - 1) + 1) : 0..<0
    }
}
