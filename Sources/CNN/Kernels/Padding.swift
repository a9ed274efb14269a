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
