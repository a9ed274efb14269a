/// How a sliding window is padded: fixed amounts, or computed from the input size.
public enum Padding: Equatable, Sendable {
    /// Pixels added before and after along height and width.
    case explicit(top: Int, left: Int, bottom: Int, right: Int)
    /// Output size ceil(input / stride); an odd total puts the extra pixel at the end
    /// (TensorFlow and ONNX SAME_UPPER) or at the start (SAME_LOWER).
    case same(lower: Bool)
    case valid

    public static let zero = Padding.explicit(top: 0, left: 0, bottom: 0, right: 0)

    /// (before, after) for one axis.
    func amounts(input: Int, kernel: Int, stride: Int, dilation: Int, axis: Int) -> (Int, Int) {
        switch self {
        case let .explicit(top, left, bottom, right):
            return axis == 0 ? (top, bottom) : (left, right)
        case .valid:
            return (0, 0)
        case let .same(lower):
            let effective = dilation * (kernel - 1) + 1
            let output = (input + stride - 1) / stride
            let total = max(0, (output - 1) * stride + effective - input)
            return lower ? ((total + 1) / 2, total / 2) : (total / 2, (total + 1) / 2)
        }
    }
}

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
