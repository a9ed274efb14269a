import Foundation

/// Local response normalization across channels (AlexNet, GoogLeNet), as ONNX defines it:
/// y = x / (bias + alpha / size * sum of x^2 over `size` neighbouring channels)^beta.
public final class LRN: Operator {
    public let kind = "lrn"
    public let size: Int
    public let alpha: Float
    public let beta: Float
    public let bias: Float

    public init(size: Int, alpha: Float = 1e-4, beta: Float = 0.75, bias: Float = 1) {
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.bias = bias
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1, inputShapes[0].count >= 3 else { throw ShapeError("expects one [N, C, ...] input") }
        guard size > 0 else { throw ShapeError("size must be positive") }
        return inputShapes[0]
    }

    /// The channels [lo, hi] summed for channel c.
    private func neighbours(_ c: Int, _ channels: Int) -> ClosedRange<Int> {
        max(0, c - (size - 1) / 2)...min(channels - 1, c + (size - 1 + 1) / 2)
    }

    /// bias + alpha / size * sum of squares, for every element.
    private func denominators(_ x: TensorView) -> [Float] {
        let (n, c) = (x.shape[0], x.shape[1])
        let inner = x.count / (n * c)
        var s = [Float](repeating: 0, count: x.count)
        for b in 0..<n {
            for ch in 0..<c {
                for i in 0..<inner {
                    var sum: Float = 0
                    for k in neighbours(ch, c) { let v = x.scalars[(b * c + k) * inner + i]; sum += v * v }
                    s[(b * c + ch) * inner + i] = bias + alpha / Float(size) * sum
                }
            }
        }
        return s
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let s = denominators(inputs[0])
        for i in 0..<s.count { output.scalars[i] = inputs[0].scalars[i] * pow(s[i], -beta) }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let x = inputs[0]
        let (n, c) = (x.shape[0], x.shape[1])
        let inner = x.count / (n * c)
        let s = withViews(of: [x]) { denominators($0[0]) }
        // t_j = g_j * x_j * s_j^(-beta - 1), gathered back over the channels whose window holds i.
        var t = [Float](repeating: 0, count: x.count)
        for i in 0..<t.count { t[i] = outputGradient.scalars[i] * x.scalars[i] * pow(s[i], -beta - 1) }
        var dx = Tensor(zeros: x.shape)
        let factor = 2 * alpha * beta / Float(size)
        for b in 0..<n {
            for ch in 0..<c {
                let readers = max(0, ch - (size - 1 + 1) / 2)...min(c - 1, ch + (size - 1) / 2)
                for i in 0..<inner {
                    let idx = (b * c + ch) * inner + i
                    var acc: Float = 0
                    for k in readers { acc += t[(b * c + k) * inner + i] }
                    dx.scalars[idx] = outputGradient.scalars[idx] * pow(s[idx], -beta) - factor * x.scalars[idx] * acc
                }
            }
        }
        return [dx]
    }
}
