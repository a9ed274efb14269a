import Foundation

/// x ^ p elementwise with numpy broadcasting (ONNX Pow). The exponent is usually a constant 2,
/// the variance of a LayerNorm spelled out, which takes a plain square.
public final class Power: Operator {
    public let kind = "pow"

    public init() {}

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 2 else { throw ShapeError("expects a base and an exponent, got \(inputShapes.count) inputs") }
        return try Broadcast.shape(inputShapes)
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let (x, y) = (inputs[0].scalars, output.scalars)
        if inputs[1].count == 1, inputs[0].count == output.count {
            let p = inputs[1].scalars[0]
            parallelFor(output.count, cost: 4) { r in
                if p == 2 {
                    for i in r { y[i] = x[i] * x[i] }
                } else {
                    for i in r { y[i] = Foundation.pow(x[i], p) }
                }
            }
            return
        }
        let bases = Broadcast.offsets(of: inputs[0].shape, in: output.shape)
        let exponents = Broadcast.offsets(of: inputs[1].shape, in: output.shape)
        let p = inputs[1].scalars
        for i in 0..<output.count { y[i] = Foundation.pow(x[bases[i]], p[exponents[i]]) }
    }

    /// d/dx = p x^(p-1); d/dp = x^p ln x, taken as 0 where x^p is 0 (x = 0, p > 0).
    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let shape = outputGradient.shape
        let bases = Broadcast.offsets(of: inputs[0].shape, in: shape)
        let exponents = Broadcast.offsets(of: inputs[1].shape, in: shape)
        var dx = Tensor(zeros: shape), dp = Tensor(zeros: shape)
        let (x, p, y, g) = (inputs[0].scalars, inputs[1].scalars, output.scalars, outputGradient.scalars)
        for i in 0..<g.count {
            let (base, exponent) = (x[bases[i]], p[exponents[i]])
            dx.scalars[i] = g[i] * (exponent == 2 ? 2 * base : exponent * Foundation.pow(base, exponent - 1))
            dp.scalars[i] = y[i] == 0 ? 0 : g[i] * y[i] * Foundation.log(base)
        }
        return [Broadcast.reduce(dx, to: inputs[0].shape), Broadcast.reduce(dp, to: inputs[1].shape)]
    }
}
