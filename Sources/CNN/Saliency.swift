import Foundation

/// Attribution of a class score to the input pixels.
public enum SaliencyMethod: String, CaseIterable, Codable, Sendable {
    /// Simonyan et al. 2013: the gradient of the pre-softmax class score with respect to the input.
    case gradient
    /// Smilkov et al. 2017: gradients averaged over noisy copies of the input.
    case smoothgrad
    /// Sundararajan et al. 2017: the path integral of gradients from a baseline, times the input difference.
    case integratedGradients = "integrated_gradients"
    /// Selvaraju et al. 2017: the last convolution's activations weighted by their mean gradients.
    case gradcam
    /// Springenberg et al. 2015: gradients through ReLUs that pass only positive signal.
    case guidedBackprop = "guided_backprop"
}

public struct SaliencyOptions: Sendable {
    public var smoothGradSamples = 25
    /// Noise sigma as a fraction of the input's value range.
    public var smoothGradSigma: Float = 0.15
    public var integrationSteps = 50
    /// The input at which integrated gradients start; nil means all zeros.
    public var baseline: Tensor?
    /// Copies per forward/backward pass for the sampling methods.
    public var batchSize = 10
    public var seed: UInt64 = 0

    public init() {}
}

/// An attribution of the same shape as one input sample [C, H, W], with the class it explains.
public struct SaliencyResult: Sendable {
    public var attribution: Tensor
    public var targetClass: Int
    /// The pre-softmax score of the target class.
    public var score: Float
    public var logits: [Float]
    /// Integrated gradients only: sum of attributions minus (score at input - score at baseline).
    public var completenessError: Float?
}

/// Computes saliency maps on a graph through an executor's backward pass. Parameters are
/// never written, so one model can serve several saliency requests at once, each with its
/// own executor.
public struct SaliencyComputer {
    public let executor: Executor
    /// The node whose output is the pre-softmax score: the graph output, or the input of a
    /// final softmax.
    public let scoreNode: String

    public init(executor: Executor) {
        self.executor = executor
        let graph = executor.graph
        // The pre-softmax scores: a final Softmax's input, looking past the reshapes that ONNX
        // graphs before opset 13 wrap it in (Flatten, Softmax, Reshape back to [N, C, 1, 1]).
        var node = graph.node(named: graph.outputName)
        while let current = node, current.op is any ShapeOnlyOperator, let input = current.inputs.first {
            node = graph.node(named: input)
        }
        if let softmax = node, softmax.op is Softmax, let input = softmax.inputs.first {
            scoreNode = input
        } else {
            scoreNode = graph.outputName
        }
    }

    /// `input` is one sample [1, C, H, W]; `targetClass` nil means the top-scoring class.
    public func compute(_ method: SaliencyMethod, input: Tensor, targetClass: Int? = nil,
                        options: SaliencyOptions = SaliencyOptions()) throws -> SaliencyResult {
        precondition(input.shape.first == 1, "saliency explains one image at a time")
        let first = try scoresAndGradients([input], targetClass: targetClass, rule: method == .guidedBackprop ? .guided : .standard)
        let logits = first.logits[0]
        let target = first.target
        guard target >= 0 && target < logits.count else {
            throw GraphError(node: scoreNode, "class \(target) is out of range for \(logits.count) classes")
        }
        let sample = Array(input.shape.dropFirst())
        var result = SaliencyResult(attribution: first.gradients[0].reshaped(to: sample), targetClass: target,
                                    score: logits[target], logits: logits)
        switch method {
        case .gradient, .guidedBackprop:
            break
        case .smoothgrad:
            let range = (input.scalars.max() ?? 0) - (input.scalars.min() ?? 0)
            let sigma = options.smoothGradSigma * range
            var random = RandomSource(seed: options.seed)
            let copies = (0..<options.smoothGradSamples).map { _ in input.map { $0 + sigma * random.nextNormal() } }
            result.attribution = try averageGradient(copies, target: target, options: options).reshaped(to: sample)
        case .integratedGradients:
            let baseline = options.baseline ?? Tensor(zeros: input.shape)
            let steps = options.integrationSteps
            // Midpoint rule over the straight path from the baseline to the input.
            let points = (0..<steps).map { k -> Tensor in
                let alpha = (Float(k) + 0.5) / Float(steps)
                var point = baseline
                point.add(input + baseline.map { -$0 }, scaledBy: alpha)
                return point
            }
            let mean = try averageGradient(points, target: target, options: options)
            var attribution = input
            for i in 0..<attribution.count { attribution.scalars[i] = (input.scalars[i] - baseline.scalars[i]) * mean.scalars[i] }
            let baselineScore = try scoresAndGradients([baseline], targetClass: target, rule: .standard).logits[0][target]
            result.completenessError = attribution.sum() - (logits[target] - baselineScore)
            result.attribution = attribution.reshaped(to: sample)
        case .gradcam:
            result.attribution = try gradCAM(input, target: target)
        }
        return result
    }

    private func averageGradient(_ inputs: [Tensor], target: Int, options: SaliencyOptions) throws -> Tensor {
        var sum = Tensor(zeros: inputs[0].shape)
        for start in stride(from: 0, to: inputs.count, by: max(options.batchSize, 1)) {
            let chunk = Array(inputs[start..<min(start + options.batchSize, inputs.count)])
            for g in try scoresAndGradients(chunk, targetClass: target, rule: .standard).gradients { sum.add(g) }
        }
        return sum.map { $0 / Float(inputs.count) }
    }

    /// One batched forward and backward: the logits of each input and d score[target] / d input.
    private func scoresAndGradients(_ inputs: [Tensor], targetClass: Int?, rule: GradientRule)
        throws -> (logits: [[Float]], gradients: [Tensor], target: Int) {
        let sample = Array(inputs[0].shape.dropFirst())
        let batch = Tensor(shape: [inputs.count] + sample, scalars: inputs.flatMap(\.scalars))
        let trace = try executor.forward(batch, context: ForwardContext(isTraining: false))
        let scores = trace.activations[scoreNode]!
        let classes = scores.count / inputs.count
        let logits = (0..<inputs.count).map { Array(scores.scalars[($0 * classes)..<(($0 + 1) * classes)]) }
        let target = targetClass ?? logits[0].indices.max { logits[0][$0] < logits[0][$1] }!
        guard target >= 0 && target < classes else { return (logits, [], target) }
        var seed = Tensor(zeros: scores.shape)
        for s in 0..<inputs.count { seed.scalars[s * classes + target] = 1 }
        let inputName = executor.graph.inputName
        let gradient = executor.backward(trace, from: scoreNode, gradient: seed, computesParameterGradients: false,
                                         rule: rule, returning: [inputName])[inputName] ?? Tensor(zeros: batch.shape)
        let size = sample.reduce(1, *)
        let gradients = (0..<inputs.count).map {
            Tensor(shape: [1] + sample, scalars: Array(gradient.scalars[($0 * size)..<(($0 + 1) * size)]))
        }
        return (logits, gradients, target)
    }

    /// The last convolution's activations weighted by their spatially averaged gradients,
    /// rectified and upsampled bilinearly to the input size, as one channel [1, H, W].
    private func gradCAM(_ input: Tensor, target: Int) throws -> Tensor {
        let graph = executor.graph
        guard let layer = graph.nodes.last(where: { $0.op is Conv2D }) else {
            throw GraphError(node: graph.name, "gradcam needs a convolution layer and the model has none")
        }
        let trace = try executor.forward(input, context: ForwardContext(isTraining: false))
        var seed = Tensor(zeros: trace.activations[scoreNode]!.shape)
        seed.scalars[target] = 1
        let gradients = executor.backward(trace, from: scoreNode, gradient: seed, computesParameterGradients: false,
                                          returning: [layer.name])
        let activation = trace.activations[layer.name]!
        let gradient = gradients[layer.name] ?? Tensor(zeros: activation.shape)
        let (k, h, w) = (activation.shape[1], activation.shape[2], activation.shape[3])
        var cam = [Float](repeating: 0, count: h * w)
        for c in 0..<k {
            let plane = c * h * w
            var alpha: Float = 0
            for i in 0..<(h * w) { alpha += gradient.scalars[plane + i] }
            alpha /= Float(h * w)
            for i in 0..<(h * w) { cam[i] += alpha * activation.scalars[plane + i] }
        }
        cam = cam.map { max($0, 0) }
        let (outH, outW) = (input.shape[2], input.shape[3])
        return Tensor(shape: [1, outH, outW], scalars: bilinearResize(cam, height: h, width: w, toHeight: outH, toWidth: outW))
    }
}

/// Bilinear resampling with aligned pixel centres (half-pixel offsets).
func bilinearResize(_ values: [Float], height: Int, width: Int, toHeight: Int, toWidth: Int) -> [Float] {
    var out = [Float](repeating: 0, count: toHeight * toWidth)
    for y in 0..<toHeight {
        let sy = max(0, min(Float(height - 1), (Float(y) + 0.5) * Float(height) / Float(toHeight) - 0.5))
        let y0 = Int(sy), y1 = min(y0 + 1, height - 1), fy = sy - Float(y0)
        for x in 0..<toWidth {
            let sx = max(0, min(Float(width - 1), (Float(x) + 0.5) * Float(width) / Float(toWidth) - 0.5))
            let x0 = Int(sx), x1 = min(x0 + 1, width - 1), fx = sx - Float(x0)
            let top = values[y0 * width + x0] * (1 - fx) + values[y0 * width + x1] * fx
            let bottom = values[y1 * width + x0] * (1 - fx) + values[y1 * width + x1] * fx
            out[y * toWidth + x] = top * (1 - fy) + bottom * fy
        }
    }
    return out
}

/// Collapses an attribution [C, H, W] over its channels for display.
public enum ChannelReduction: String, CaseIterable, Sendable {
    case maxAbs = "max_abs"
    case meanAbs = "mean_abs"
    /// Keep the channels (for RGB attributions).
    case rgb

    /// [H, W] values for max_abs and mean_abs; the attribution unchanged for rgb.
    public func apply(_ attribution: Tensor) -> Tensor {
        let (c, h, w) = (attribution.shape[0], attribution.shape[1], attribution.shape[2])
        guard self != .rgb else { return attribution }
        var out = [Float](repeating: 0, count: h * w)
        for ch in 0..<c {
            for i in 0..<(h * w) {
                let v = abs(attribution.scalars[ch * h * w + i])
                out[i] = self == .maxAbs ? max(out[i], v) : out[i] + v / Float(c)
            }
        }
        return Tensor(shape: [h, w], scalars: out)
    }
}
