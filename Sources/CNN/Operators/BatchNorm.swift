/// Batch normalization over axis 1 of [N, C, ...] input.
///
/// In training it normalizes by the batch's statistics and updates the running ones
/// (PyTorch's rule: exponential average with `momentum`, unbiased variance); in inference it
/// uses the running statistics, and the inference optimizer folds it into the convolution
/// before it. With `usesRunningStatistics` it normalizes by the running statistics in training
/// too and leaves them alone, as Keras runs a frozen layer (PyTorch's `module.eval()`).
public final class BatchNorm: Operator {
    public let kind = "batchnorm"
    public let scale: Parameter
    public let shift: Parameter
    public let runningMean: Parameter
    public let runningVariance: Parameter
    public let epsilon: Float
    public let momentum: Float

    public var parameters: [Parameter] { [scale, shift] }
    public var buffers: [Parameter] { [runningMean, runningVariance] }
    public var channels: Int { scale.value.count }
    /// Training normalizes as inference does: a frozen layer's statistics stay as the base
    /// model learned them, and its gradient is the plain affine one.
    public var usesRunningStatistics = false

    public init(scale: Parameter, shift: Parameter, runningMean: Parameter, runningVariance: Parameter,
                epsilon: Float = 1e-5, momentum: Float = 0.1) {
        runningMean.isTrainable = false
        runningVariance.isTrainable = false
        self.scale = scale
        self.shift = shift
        self.runningMean = runningMean
        self.runningVariance = runningVariance
        self.epsilon = epsilon
        self.momentum = momentum
    }

    public convenience init(name: String, channels: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) {
        self.init(scale: Parameter(name: "\(name).weight", value: Tensor(shape: [channels], repeating: 1)),
                  shift: Parameter(name: "\(name).bias", value: Tensor(zeros: [channels])),
                  runningMean: Parameter(name: "\(name).running_mean", value: Tensor(zeros: [channels])),
                  runningVariance: Parameter(name: "\(name).running_var", value: Tensor(shape: [channels], repeating: 1)),
                  epsilon: epsilon, momentum: momentum)
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1, inputShapes[0].count >= 2, inputShapes[0][1] == channels else {
            throw ShapeError("expects [N, \(channels), ...] input, got \(inputShapes)")
        }
        return inputShapes[0]
    }

    /// Inference BatchNorm as y = scale * x + shift per channel, from the running statistics.
    var inferenceAffine: (scale: [Float], shift: [Float]) {
        let a = (0..<channels).map { scale.value.scalars[$0] / (runningVariance.value.scalars[$0] + epsilon).squareRoot() }
        return (a, (0..<channels).map { shift.value.scalars[$0] - a[$0] * runningMean.value.scalars[$0] })
    }

    /// Per-channel mean and biased variance of a batch.
    private func statistics(_ x: TensorView) -> (mean: [Float], variance: [Float], count: Int) {
        let (n, c) = (x.shape[0], x.shape[1])
        let inner = x.count / max(n * c, 1)
        var mean = [Float](repeating: 0, count: c)
        var variance = [Float](repeating: 0, count: c)
        // In double precision, two passes, split by channel across the threads; four lanes at a
        // time, as a running sum in one lane stays scalar.
        do {
            mean.withUnsafeMutableBufferPointer { means in
                variance.withUnsafeMutableBufferPointer { variances in
                    let (x, means, variances) = (UnsafePointer(x.scalars), means.baseAddress!, variances.baseAddress!)
                    parallelFor(c, cost: 4 * n * inner) { channels in
                        for ch in channels {
                            var sum = SIMD4<Double>()
                            for s in 0..<n { sum += lanes(x + (s * c + ch) * inner, count: inner) { $0 } }
                            let m = sum.sum() / Double(n * inner)
                            var squares = SIMD4<Double>()
                            for s in 0..<n {
                                squares += lanes(x + (s * c + ch) * inner, count: inner) { ($0 - m) * ($0 - m) }
                            }
                            means[ch] = Float(m)
                            variances[ch] = Float(squares.sum() / Double(n * inner))
                        }
                    }
                }
            }
        }
        return (mean, variance, n * inner)
    }

    /// The sum of `transform` over `count` floats, in four double lanes.
    @inline(__always)
    private func lanes(_ values: UnsafePointer<Float>, count: Int,
                       _ transform: (SIMD4<Double>) -> SIMD4<Double>) -> SIMD4<Double> {
        var total = SIMD4<Double>()
        var i = 0
        while i + 4 <= count {
            let v = UnsafeRawPointer(values + i).loadUnaligned(as: SIMD4<Float>.self)
            total += transform(SIMD4<Double>(Double(v[0]), Double(v[1]), Double(v[2]), Double(v[3])))
            i += 4
        }
        while i < count {
            total[0] += transform(SIMD4<Double>(repeating: Double(values[i])))[0]
            i += 1
        }
        return total
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let x = inputs[0]
        var mean = runningMean.value.scalars, variance = runningVariance.value.scalars
        if context.isTraining && !usesRunningStatistics {
            let stats = statistics(x)
            (mean, variance) = (stats.mean, stats.variance)
            let unbias = Float(stats.count) / Float(max(stats.count - 1, 1))
            for ch in 0..<channels {
                runningMean.value.scalars[ch] = (1 - momentum) * runningMean.value.scalars[ch] + momentum * mean[ch]
                runningVariance.value.scalars[ch] = (1 - momentum) * runningVariance.value.scalars[ch]
                    + momentum * variance[ch] * unbias
            }
        }
        let (n, c) = (x.shape[0], x.shape[1])
        let inner = x.count / max(n * c, 1)
        let gamma = scale.value.scalars, beta = shift.value.scalars
        let (xs, y) = (x.scalars, output.scalars)
        for ch in 0..<c {
            let a = gamma[ch] / (variance[ch] + epsilon).squareRoot()
            let b = beta[ch] - a * mean[ch]
            for s in 0..<n {
                let base = (s * c + ch) * inner
                for i in 0..<inner { y[base + i] = a * xs[base + i] + b }
            }
        }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let x = inputs[0]
        let (n, c) = (x.shape[0], x.shape[1])
        let inner = x.count / max(n * c, 1)
        let training = context.forward.isTraining && !usesRunningStatistics
        let stats = training ? withViews(of: [x]) { statistics($0[0]) }
            : (runningMean.value.scalars, runningVariance.value.scalars, n * inner)
        let gamma = scale.value.scalars
        var dx = Tensor(zeros: x.shape)
        var dGamma = [Float](repeating: 0, count: c), dBeta = [Float](repeating: 0, count: c)
        x.scalars.withUnsafeBufferPointer { xs in
            outputGradient.scalars.withUnsafeBufferPointer { g in
                dx.scalars.withUnsafeMutableBufferPointer { d in
                    for ch in 0..<c {
                        let invStd = 1 / (stats.1[ch] + epsilon).squareRoot()
                        var sumG: Float = 0, sumGX: Float = 0
                        for s in 0..<n {
                            let base = (s * c + ch) * inner
                            for i in 0..<inner {
                                sumG += g[base + i]
                                sumGX += g[base + i] * (xs[base + i] - stats.0[ch]) * invStd
                            }
                        }
                        dGamma[ch] = sumGX
                        dBeta[ch] = sumG
                        let m = Float(n * inner)
                        for s in 0..<n {
                            let base = (s * c + ch) * inner
                            for i in 0..<inner {
                                if training {
                                    let xhat = (xs[base + i] - stats.0[ch]) * invStd
                                    d[base + i] = gamma[ch] * invStd * (g[base + i] - sumG / m - xhat * sumGX / m)
                                } else {
                                    d[base + i] = gamma[ch] * invStd * g[base + i]
                                }
                            }
                        }
                    }
                }
            }
        }
        if context.computesParameterGradients {
            if scale.isTrainable { scale.gradient.add(Tensor(shape: [c], scalars: dGamma)) }
            if shift.isTrainable { shift.gradient.add(Tensor(shape: [c], scalars: dBeta)) }
        }
        return [dx]
    }
}
