import Foundation

/// Softmax (or log-softmax) along one axis, computed stably by subtracting the maximum.
public final class Softmax: Operator {
    public let axis: Int
    public let isLog: Bool
    public var kind: String { isLog ? "log_softmax" : "softmax" }

    public init(axis: Int = -1, log: Bool = false) {
        self.axis = axis
        self.isLog = log
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1 else { throw ShapeError("expects one input") }
        let rank = inputShapes[0].count
        guard axis >= -rank && axis < rank else { throw ShapeError("axis \(axis) out of range for rank \(rank)") }
        return inputShapes[0]
    }

    /// (outer, length, inner) of the axis within the shape.
    private func layout(_ shape: [Int]) -> (Int, Int, Int) {
        let a = axis < 0 ? axis + shape.count : axis
        return (shape[..<a].reduce(1, *), shape[a], shape[(a + 1)...].reduce(1, *))
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let (outer, length, inner) = layout(inputs[0].shape)
        let (x, y) = (inputs[0].scalars, output.scalars)
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * length * inner + i
                var m = -Float.infinity
                for k in 0..<length { m = max(m, x[base + k * inner]) }
                var sum: Float = 0
                for k in 0..<length { sum += exp(x[base + k * inner] - m) }
                let logSum = log(sum)
                for k in 0..<length {
                    let z = x[base + k * inner] - m
                    y[base + k * inner] = isLog ? z - logSum : exp(z) / sum
                }
            }
        }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let (outer, length, inner) = layout(inputs[0].shape)
        var dx = Tensor(zeros: inputs[0].shape)
        dx.scalars.withUnsafeMutableBufferPointer { d in
            output.scalars.withUnsafeBufferPointer { y in
                outputGradient.scalars.withUnsafeBufferPointer { g in
                    for o in 0..<outer {
                        for i in 0..<inner {
                            let base = o * length * inner + i
                            if isLog {
                                var total: Float = 0
                                for k in 0..<length { total += g[base + k * inner] }
                                for k in 0..<length {
                                    let j = base + k * inner
                                    d[j] = g[j] - exp(y[j]) * total
                                }
                            } else {
                                var dot: Float = 0
                                for k in 0..<length { dot += g[base + k * inner] * y[base + k * inner] }
                                for k in 0..<length {
                                    let j = base + k * inner
                                    d[j] = y[j] * (g[j] - dot)
                                }
                            }
                        }
                    }
                }
            }
        }
        return [dx]
    }
}
