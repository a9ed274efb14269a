import Foundation

/// Attribution of a class score to the input pixels.
public enum SaliencyMethod: String, CaseIterable, Codable, Sendable {
    /// Simonyan et al. 2013: the gradient of the pre-softmax class score with respect to the input.
    case gradient
    /// Smilkov et al. 2017: gradient magnitudes averaged over noisy copies of the input (the
    /// mean of |gradient|, as Captum's `NoiseTunnel(Saliency)` computes it by default).
    case smoothgrad
    /// Sundararajan et al. 2017: the path integral of gradients from a baseline, times the input difference.
    case integratedGradients = "integrated_gradients"
    /// Selvaraju et al. 2017: a convolution's activations weighted by their mean gradients.
    case gradcam
    /// Springenberg et al. 2015: gradients through ReLUs that pass only positive signal.
    case guidedBackprop = "guided_backprop"

    /// Integrated-gradients steps and SmoothGrad samples when a request names none.
    public var defaultSteps: Int? {
        switch self {
        case .integratedGradients: return 50
        case .smoothgrad: return 25
        default: return nil
        }
    }
}

public struct SaliencyOptions: Sendable {
    /// Integrated-gradients steps or SmoothGrad samples; nil is the method's `defaultSteps`.
    public var steps: Int?
    /// SmoothGrad's noise sigma as a fraction of the input's value range.
    public var sigma: Float = 0.15
    public var integration = IntegrationRule.gaussLegendre
    public var baseline = SaliencyBaseline.black
    /// The black image as the model's preprocessing gives it, [1, C, H, W] (zeros when nil).
    public var blackInput: Tensor?
    /// Per channel, the lowest and highest value preprocessing gives (the noise baseline's range).
    public var channelRanges: [ClosedRange<Float>]?
    /// Grad-CAM's layer by node name; nil is the last convolution.
    public var layer: String?
    /// Copies per forward/backward pass for the sampling methods (the service sizes it by memory).
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
    /// The sampling methods only: steps run and how many ran in one batch.
    public var steps: Int?
    public var batchSize: Int?
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
        try compute(method, input: input, targets: targetClass.map { .classes([$0]) } ?? .top(1), options: options)[0]
    }

    /// One map per class of `targets`, in its order, from the same forward passes: each pass's
    /// activations are kept and backpropagated once per class.
    public func compute(_ method: SaliencyMethod, input: Tensor, targets: SaliencyTargets,
                        options: SaliencyOptions = SaliencyOptions()) throws -> [SaliencyResult] {
        precondition(input.shape.first == 1, "saliency explains one image at a time")
        let sample = Array(input.shape.dropFirst())
        switch method {
        case .gradient, .guidedBackprop:
            let pass = try gradientSum(count: 1, batchSize: 1, targets: targets,
                                       rule: method == .guidedBackprop ? .guided : .standard,
                                       fill: { _, slot in input.scalars.withUnsafeBufferPointer { slot.baseAddress!.update(from: $0.baseAddress!, count: input.count) } },
                                       weight: { _ in 1 })
            return zip(pass.sums, pass.targets).map { sum, target in
                SaliencyResult(attribution: sum.reshaped(to: sample), targetClass: target, score: pass.logits[target], logits: pass.logits)
            }
        case .gradcam:
            return try gradCAM(input, targets: targets, layer: options.layer)
        case .smoothgrad, .integratedGradients:
            break
        }
        let steps = options.steps ?? method.defaultSteps!
        let batch = max(1, min(options.batchSize, steps))
        let baseline = method == .integratedGradients
            ? options.baseline.tensor(for: input, black: options.blackInput, channelRanges: options.channelRanges, seed: options.seed)
            : nil
        let reference = try scores(of: [input] + (baseline.map { [$0] } ?? []))
        let logits = reference[0]
        let chosen = try targets.resolve(logits, node: scoreNode)
        let fixed = SaliencyTargets.classes(chosen)
        var results = chosen.map {
            SaliencyResult(attribution: input, targetClass: $0, score: logits[$0], logits: logits, steps: steps, batchSize: batch)
        }
        if let baseline {
            precondition(steps >= options.integration.minimumSteps, "\(options.integration.rawValue) needs more steps")
            let (alphas, weights) = options.integration.points(steps)
            let difference = zip(input.scalars, baseline.scalars).map { $0 - $1 }
            let pass = try gradientSum(count: steps, batchSize: batch, targets: fixed, rule: .standard, fill: { k, slot in
                let alpha = Float(alphas[k])
                for i in 0..<difference.count { slot[i] = baseline.scalars[i] + alpha * difference[i] }
            }, weight: { Float(weights[$0]) })
            for (t, sum) in pass.sums.enumerated() {
                var attribution = sum
                for i in 0..<attribution.count { attribution.scalars[i] *= difference[i] }
                let target = chosen[t]
                results[t].completenessError = attribution.sum() - (logits[target] - reference[1][target])
                results[t].attribution = attribution.reshaped(to: sample)
            }
        } else {
            let sigma = options.sigma * ((input.scalars.max() ?? 0) - (input.scalars.min() ?? 0))
            // One stream of noise in sample order, so that the map does not depend on the batch size.
            var random = RandomSource(seed: options.seed)
            let pass = try gradientSum(count: steps, batchSize: batch, targets: fixed, rule: .standard, absolute: true, fill: { _, slot in
                for i in 0..<input.count { slot[i] = input.scalars[i] + sigma * random.nextNormal() }
            }, weight: { _ in 1 / Float(steps) })
            for (t, sum) in pass.sums.enumerated() { results[t].attribution = sum.reshaped(to: sample) }
        }
        return results
    }

    /// The scores of each input, one forward pass.
    private func scores(of inputs: [Tensor]) throws -> [[Float]] {
        let sample = Array(inputs[0].shape.dropFirst())
        let batch = Tensor(shape: [inputs.count] + sample, scalars: inputs.flatMap(\.scalars))
        let scores = try executor.forward(batch, context: ForwardContext(isTraining: false)).activations[scoreNode]!
        let classes = scores.count / inputs.count
        return (0..<inputs.count).map { Array(scores.scalars[($0 * classes)..<(($0 + 1) * classes)]) }
    }

    /// For each class of `targets`, the sum over `count` inputs of weight(k) * d score[class] /
    /// d input_k (of its magnitude when `absolute`), run `batchSize` inputs per forward pass and
    /// one backward pass per class; `fill(k, slot)` writes input k. Also the first input's
    /// scores and the classes (`targets` resolved on those scores).
    private func gradientSum(count: Int, batchSize: Int, targets: SaliencyTargets, rule: GradientRule, absolute: Bool = false,
                             fill: (Int, UnsafeMutableBufferPointer<Float>) -> Void, weight: (Int) -> Float)
        throws -> (sums: [Tensor], logits: [Float], targets: [Int]) {
        let sample = [1] + executor.graph.inputShape
        let size = sample.reduce(1, *)
        var sums: [Tensor] = []
        var first: [Float] = [], chosen: [Int] = []
        let inputName = executor.graph.inputName
        for start in stride(from: 0, to: count, by: batchSize) {
            let n = min(batchSize, count - start)
            var batch = Tensor(unfilledShape: [n] + executor.graph.inputShape)
            batch.scalars.withUnsafeMutableBufferPointer { all in
                for s in 0..<n { fill(start + s, UnsafeMutableBufferPointer(rebasing: all[(s * size)..<((s + 1) * size)])) }
            }
            let trace = try executor.forward(batch, context: ForwardContext(isTraining: false))
            let scores = trace.activations[scoreNode]!
            let classes = scores.count / n
            if start == 0 {
                first = Array(scores.scalars[0..<classes])
                chosen = try targets.resolve(first, node: scoreNode)
                sums = chosen.map { _ in Tensor(zeros: sample) }
            }
            for (t, target) in chosen.enumerated() {
                var seed = Tensor(zeros: scores.shape)
                for s in 0..<n { seed.scalars[s * classes + target] = 1 }
                let gradient = executor.backward(trace, from: scoreNode, gradient: seed, computesParameterGradients: false,
                                                 rule: rule, returning: [inputName])[inputName] ?? Tensor(zeros: batch.shape)
                for s in 0..<n {
                    let w = weight(start + s)
                    if absolute {
                        for i in 0..<size { sums[t].scalars[i] += w * abs(gradient.scalars[s * size + i]) }
                    } else {
                        for i in 0..<size { sums[t].scalars[i] += w * gradient.scalars[s * size + i] }
                    }
                }
            }
        }
        return (sums, first, chosen)
    }

    /// The nodes Grad-CAM can explain through: those with a spatial output [N, C, H, W].
    public func spatialLayers() throws -> [String] {
        let shapes = try executor.graph.shapes(batch: 1)
        return executor.graph.nodes.filter { shapes[$0.name]?.count == 4 }.map(\.name)
    }

    /// Grad-CAM: the layer's activations weighted by their spatially averaged gradients,
    /// summed over channels, rectified and upsampled to the input as PyTorch's
    /// `F.interpolate(mode="bilinear")` does by default (align_corners false, as Captum's
    /// `LayerAttribution.interpolate` calls it), as one channel [1, H, W].
    private func gradCAM(_ input: Tensor, targets: SaliencyTargets, layer name: String?) throws -> [SaliencyResult] {
        let graph = executor.graph
        let layer: String
        if let name {
            guard try spatialLayers().contains(name) else {
                throw GraphError(node: name, "gradcam's layer must be a node with a spatial output [N, C, H, W] of the "
                    + "served graph (BatchNorm and activations are fused into the convolution before them)")
            }
            layer = name
        } else {
            guard let last = graph.nodes.last(where: { $0.op is Conv2D }) else {
                throw GraphError(node: graph.name, "gradcam needs a convolution layer and the model has none")
            }
            layer = last.name
        }
        let trace = try executor.forward(input, context: ForwardContext(isTraining: false))
        let scores = trace.activations[scoreNode]!
        let logits = scores.scalars
        let activation = trace.activations[layer]!
        let (k, h, w) = (activation.shape[1], activation.shape[2], activation.shape[3])
        let (outH, outW) = (input.shape[2], input.shape[3])
        let upsample = Resize(targets: [nil, nil, .size(outH), .size(outW)], filter: .linear, coordinateMode: .pytorchHalfPixel)
        return try targets.resolve(logits, node: scoreNode).map { target in
            var seed = Tensor(zeros: scores.shape)
            seed.scalars[target] = 1
            let gradients = executor.backward(trace, from: scoreNode, gradient: seed, computesParameterGradients: false,
                                              returning: [layer])
            let gradient = gradients[layer] ?? Tensor(zeros: activation.shape)
            var cam = Tensor(zeros: [1, 1, h, w])
            for c in 0..<k {
                let plane = c * h * w
                var alpha: Float = 0
                for i in 0..<(h * w) { alpha += gradient.scalars[plane + i] }
                alpha /= Float(h * w)
                for i in 0..<(h * w) { cam.scalars[i] += alpha * activation.scalars[plane + i] }
            }
            cam = cam.map { max($0, 0) }
            var map = Tensor(zeros: [1, 1, outH, outW])
            upsample.forward([cam], into: &map, context: ForwardContext(isTraining: false, keepsForBackward: false))
            return SaliencyResult(attribution: map.reshaped(to: [1, outH, outW]), targetClass: target,
                                  score: logits[target], logits: logits)
        }
    }
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
