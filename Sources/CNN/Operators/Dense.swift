/// A fully connected layer, y = x W^T + b, on [N, features] input (trailing dimensions of a
/// higher-rank input are flattened, as Keras and the JSON format expect), or, with
/// `appliesToLastAxis`, on the last axis of any input as PyTorch's Linear does (ConvNeXt's
/// channels-last MLP, exported as MatMul and Add). `weight` is [out, in] as PyTorch and ONNX
/// Gemm with transB store it.
public final class Dense: Operator {
    public let kind = "dense"
    public let weight: Parameter
    public let bias: Parameter?
    public var activation: Activation?
    /// Every row of the last axis is a sample: [..., in] becomes [..., out].
    public let appliesToLastAxis: Bool

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }
    public var inFeatures: Int { weight.value.shape[1] }
    public var outFeatures: Int { weight.value.shape[0] }

    public init(weight: Parameter, bias: Parameter?, activation: Activation? = nil, appliesToLastAxis: Bool = false) {
        precondition(weight.value.rank == 2, "dense weight must be [out, in]")
        self.weight = weight
        self.bias = bias
        self.activation = activation
        self.appliesToLastAxis = appliesToLastAxis
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1, inputShapes[0].count >= 2 else {
            throw ShapeError("expects one [N, features] input, got \(inputShapes)")
        }
        if appliesToLastAxis {
            guard inputShapes[0].last == inFeatures else {
                throw ShapeError("input's last axis has \(inputShapes[0].last!) features, weight \(weight.value.shape) expects \(inFeatures)")
            }
            return inputShapes[0].dropLast() + [outFeatures]
        }
        let features = inputShapes[0].dropFirst().reduce(1, *)
        guard features == inFeatures else {
            throw ShapeError("input has \(features) features, weight \(weight.value.shape) expects \(inFeatures)")
        }
        return [inputShapes[0][0], outFeatures]
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let n = inputs[0].count / inFeatures
        let (din, dout, y) = (inFeatures, outFeatures, output.scalars)
        weight.value.scalars.withUnsafeBufferPointer { w in
            sgemm(transposeB: true, m: n, n: dout, k: din, a: inputs[0].scalars, lda: din,
                  b: w.baseAddress!, ldb: din, c: y, ldc: dout)
        }
        guard bias != nil || activation != nil else { return }
        let b = bias?.value.scalars
        for s in 0..<n {
            let row = y + s * dout
            if let b { for o in 0..<dout { row[o] += b[o] } }
            activation?.apply(row, into: row, count: dout)
        }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let x = inputs[0]
        let n = x.count / inFeatures
        let (din, dout) = (inFeatures, outFeatures)
        var gy = outputGradient
        activation?.backpropagate(&gy, output: output, rule: context.rule)
        var dx: Tensor?
        if context.needsInputGradients {
            var gx = Tensor(zeros: x.shape)
            gy.scalars.withUnsafeBufferPointer { g in
                weight.value.scalars.withUnsafeBufferPointer { w in
                    gx.scalars.withUnsafeMutableBufferPointer { d in
                        sgemm(m: n, n: din, k: dout, a: g.baseAddress!, lda: dout, b: w.baseAddress!, ldb: din,
                              c: d.baseAddress!, ldc: din)
                    }
                }
            }
            dx = gx
        }
        if context.computesParameterGradients {
            if weight.isTrainable {
                gy.scalars.withUnsafeBufferPointer { g in
                    x.scalars.withUnsafeBufferPointer { xs in
                        weight.gradient.scalars.withUnsafeMutableBufferPointer { d in
                            sgemm(transposeA: true, m: dout, n: din, k: n, a: g.baseAddress!, lda: dout,
                                  b: xs.baseAddress!, ldb: din, beta: 1, c: d.baseAddress!, ldc: din)
                        }
                    }
                }
            }
            if let bias, bias.isTrainable {
                for s in 0..<n {
                    for o in 0..<dout { bias.gradient.scalars[o] += gy.scalars[s * dout + o] }
                }
            }
        }
        return [dx]
    }
}
