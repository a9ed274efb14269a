import Foundation

/// Pointwise functions that exporters emit outside activations: Sqrt, Reciprocal and Erf
/// (LayerNorm and GELU as older opsets spell them out) and GELU's tanh approximation (opset
/// 20's Gelu with approximate = "tanh"; the exact GELU is an `Activation`, vectorized).
public final class Pointwise: Operator {
    public enum Function: String, Sendable {
        case sqrt, reciprocal, erf
        /// GELU's tanh approximation: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
        case geluTanh = "gelu_tanh"
    }

    public let function: Function
    public var kind: String { function.rawValue }

    public init(_ function: Function) {
        self.function = function
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1 else { throw ShapeError("expects one input, got \(inputShapes.count)") }
        return inputShapes[0]
    }

    private static let tanhScale = Float((2 / Double.pi).squareRoot())
    private static let twoOverRootPi = Float(2 / Double.pi.squareRoot())

    /// The switch sits outside the loops, so that each loop is one function.
    private func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        switch function {
        case .sqrt: for i in 0..<count { y[i] = x[i].squareRoot() }
        case .reciprocal: for i in 0..<count { y[i] = 1 / x[i] }
        case .erf: for i in 0..<count { y[i] = Foundation.erf(x[i]) }
        case .geluTanh:
            for i in 0..<count {
                let v = x[i]
                y[i] = 0.5 * v * (1 + Foundation.tanh(Self.tanhScale * (v + 0.044715 * v * v * v)))
            }
        }
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let (x, y) = (UnsafePointer(inputs[0].scalars), output.scalars)
        parallelFor(output.count, cost: 8) { r in apply(x + r.lowerBound, y + r.lowerBound, count: r.count) }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        var dx = outputGradient
        dx.scalars.withUnsafeMutableBufferPointer { g in
            inputs[0].scalars.withUnsafeBufferPointer { x in
                output.scalars.withUnsafeBufferPointer { y in
                    switch function {
                    case .sqrt: for i in 0..<g.count { g[i] *= 0.5 / y[i] }
                    case .reciprocal: for i in 0..<g.count { g[i] *= -y[i] * y[i] }
                    case .erf: for i in 0..<g.count { g[i] *= Self.twoOverRootPi * Foundation.exp(-x[i] * x[i]) }
                    case .geluTanh:
                        for i in 0..<g.count {
                            let v = x[i]
                            let t = Foundation.tanh(Self.tanhScale * (v + 0.044715 * v * v * v))
                            g[i] *= 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * Self.tanhScale * (1 + 3 * 0.044715 * v * v)
                        }
                    }
                }
            }
        }
        return [dx]
    }
}
