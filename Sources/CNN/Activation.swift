/// A pointwise nonlinearity, applied by its own layer or fused into a convolution or dense layer.
public enum Activation: Equatable, Sendable {
    case relu
    case clip(min: Float, max: Float)
    case leakyReLU(alpha: Float)
    case sigmoid
    case hardSigmoid(alpha: Float, beta: Float)
    case hardSwish
    case tanh
    /// x · sigmoid(x) (swish), which exporters write as a Sigmoid and a Mul.
    case silu
    /// x Phi(x), Phi the standard normal distribution function (ONNX Gelu, which exporters
    /// before opset 20 write as 0.5 x (1 + erf(x / sqrt 2)) in five nodes).
    case gelu

    public static let relu6 = Activation.clip(min: 0, max: 6)

    /// A fused activation keeps only its output, so its derivative must follow from the output.
    var isInvertibleFromOutput: Bool {
        switch self {
        case .hardSwish, .silu, .gelu: return false
        case let .leakyReLU(alpha): return alpha > 0
        default: return true
        }
    }

    /// Multiplies `gradient` by the activation's derivative, computed from `output`. Under the
    /// guided rule ReLUs also drop negative gradients.
    func backpropagate(_ gradient: inout Tensor, output: Tensor, rule: GradientRule) {
        if case .relu = self, case .standard = rule {
            gradient = reluGradient(gradient, gate: output)
            return
        }
        gradient.scalars.withUnsafeMutableBufferPointer { g in
            output.scalars.withUnsafeBufferPointer { y in
                if case .relu = self {
                    for i in 0..<g.count { g[i] = y[i] > 0 && g[i] > 0 ? g[i] : 0 }
                } else {
                    multiplyByDerivative(g.baseAddress!, at: y.baseAddress!, fromOutput: true, count: g.count)
                }
            }
        }
    }

    /// Multiplies `gradient` by the activation's derivative at its argument `input`.
    func backpropagate(_ gradient: inout Tensor, input: Tensor) {
        gradient.scalars.withUnsafeMutableBufferPointer { g in
            input.scalars.withUnsafeBufferPointer { x in
                multiplyByDerivative(g.baseAddress!, at: x.baseAddress!, fromOutput: false, count: g.count)
            }
        }
    }

    public var name: String {
        switch self {
        case .relu: return "relu"
        case let .clip(lo, hi): return lo == 0 && hi == 6 ? "relu6" : "clip"
        case .leakyReLU: return "leaky_relu"
        case .sigmoid: return "sigmoid"
        case .hardSigmoid: return "hard_sigmoid"
        case .hardSwish: return "hard_swish"
        case .tanh: return "tanh"
        case .silu: return "silu"
        case .gelu: return "gelu"
        }
    }
}

/// ReLU's backward, `gradient` where `gate` (the ReLU's input or output) is positive and zero
/// elsewhere, written to a new tensor in one pass split across the engine's threads: the caller
/// still holds the gradient, so masking it in place would first copy it.
func reluGradient(_ gradient: Tensor, gate: Tensor) -> Tensor {
    Tensor(shape: gradient.shape) { result in
        gradient.scalars.withUnsafeBufferPointer { g in
            gate.scalars.withUnsafeBufferPointer { y in
                guard let gs = g.baseAddress, let ys = y.baseAddress, let rs = result.baseAddress else { return }
                parallelFor(g.count, cost: 1) { range in
                    passWherePositive(gs + range.lowerBound, gate: ys + range.lowerBound, into: rs + range.lowerBound,
                                      count: range.count)
                }
            }
        }
    }
}

/// result[i] = gate[i] > 0 ? gradient[i] : 0, a vector at a time, as the compiler leaves the
/// plain loop scalar and branching.
private func passWherePositive(_ gradient: UnsafePointer<Float>, gate: UnsafePointer<Float>,
                               into result: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + Lanes.scalarCount <= count {
        var g: Lanes = loadLanes(gradient + i)
        g.replace(with: 0, where: .!(loadLanes(gate + i, as: Lanes.self) .> 0))
        storeLanes(g, result + i)
        i += Lanes.scalarCount
    }
    while i < count {
        result[i] = gate[i] > 0 ? gradient[i] : 0
        i += 1
    }
}
