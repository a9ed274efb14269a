import CKernels

extension Activation {
    /// The activation as CKernels' vector kernels take it.
    var kernel: salient_activation {
        switch self {
        case .relu: return salient_activation(kind: salient_relu, alpha: 0, beta: 0)
        case let .clip(lo, hi): return salient_activation(kind: salient_clip, alpha: lo, beta: hi)
        case let .leakyReLU(alpha): return salient_activation(kind: salient_leaky_relu, alpha: alpha, beta: 0)
        case .sigmoid: return salient_activation(kind: salient_sigmoid, alpha: 0, beta: 0)
        case let .hardSigmoid(alpha, beta): return salient_activation(kind: salient_hard_sigmoid, alpha: alpha, beta: beta)
        case .hardSwish: return salient_activation(kind: salient_hard_swish, alpha: 0, beta: 0)
        case .tanh: return salient_activation(kind: salient_tanh, alpha: 0, beta: 0)
        case .silu: return salient_activation(kind: salient_silu, alpha: 0, beta: 0)
        case .gelu: return salient_activation(kind: salient_gelu, alpha: 0, beta: 0)
        }
    }

    /// Writes activation(x[i] + addend[i] + bias) to y[i] for `count` scalars (x, addend and y
    /// may alias), the addend being a fused residual connection: eight lanes at a time (SiLU and
    /// sigmoid sixteen where the CPU has AVX-512), the transcendental ones by polynomials within
    /// 2 ulp (a scalar `exp` per element had made Sigmoid 58% of EfficientNet-B0).
    func apply(_ x: UnsafePointer<Float>, bias: Float = 0, adding addend: UnsafePointer<Float>? = nil,
               into y: UnsafeMutablePointer<Float>, count: Int) {
        var kernel = kernel
        salient_activate(&kernel, x, bias, addend, y, count)
    }

    /// The same with no activation at all, or `activation` when there is one; `pre`, when
    /// given, receives the activation's argument.
    static func finish(_ activation: Activation?, _ x: UnsafePointer<Float>, bias: Float, adding addend: UnsafePointer<Float>?,
                       keepingInputIn pre: UnsafeMutablePointer<Float>? = nil, into y: UnsafeMutablePointer<Float>,
                       count: Int) {
        var kernel = activation?.kernel ?? salient_activation(kind: salient_identity, alpha: 0, beta: 0)
        salient_activate_keeping_input(&kernel, x, bias, addend, pre, y, count)
    }

    /// gradient[i] *= f'(x[i]) from the activation's input x, or from its output when
    /// `fromOutput`, split across the engine's threads.
    func multiplyByDerivative(_ gradient: UnsafeMutablePointer<Float>, at values: UnsafePointer<Float>, fromOutput: Bool,
                              count: Int) {
        let kernel = kernel
        parallelFor(count, cost: 8) { r in
            var k = kernel
            let (v, g) = (values + r.lowerBound, gradient + r.lowerBound)
            if fromOutput {
                salient_activation_backward_from_output(&k, v, g, g, r.count)
            } else {
                salient_activation_backward(&k, v, g, g, r.count)
            }
        }
    }
}
