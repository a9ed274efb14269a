import CNN
import Foundation
import Imaging

/// Computes a saliency map for an uploaded image and renders it at the image's size.
struct SaliencyService {
    let classifier: Classifier
    /// `max_saliency_batch_bytes`: the memory one pass's batch of copies may take.
    var maxBatchBytes = Int.max

    struct MapValues: Codable {
        var width: Int
        var height: Int
        var channels: Int
        var values: [Float]
    }

    struct ClassRef: Codable {
        var index: Int
        var label: String
    }

    struct Result: Codable {
        var model: String
        var method: String
        var `class`: ClassRef
        var score: Float
        var probability: Float
        var map: MapValues
        /// Where the rendered map is kept, once the route has stored it.
        var pngURL: String?
        var completenessError: Float?
        /// Integrated gradients and SmoothGrad: the steps run, and how many ran in one batch.
        var steps: Int?
        var batchSize: Int?
        /// Deletion and insertion scores, when asked for.
        var fidelity: Fidelity?
        var timingMs: [String: Double]

        enum CodingKeys: String, CodingKey {
            case model, method, `class`, score, probability, map, steps, fidelity
            case pngURL = "png_url", completenessError = "completeness_error", batchSize = "batch_size", timingMs = "timing_ms"
        }
    }

    /// Petsiuk et al.'s areas under the deletion and insertion curves, beside a random order's,
    /// with the curves (the class's probability after each step, from no pixel to all).
    struct Fidelity: Codable {
        var deletionAUC: Float
        var insertionAUC: Float
        var randomDeletionAUC: Float
        var randomInsertionAUC: Float
        var steps: Int
        var curves: Curves

        struct Curves: Codable {
            var deletion: [Float]
            var insertion: [Float]
            var randomDeletion: [Float]
            var randomInsertion: [Float]

            enum CodingKeys: String, CodingKey {
                case deletion, insertion, randomDeletion = "random_deletion", randomInsertion = "random_insertion"
            }
        }

        init(_ c: FidelityCurves) {
            deletionAUC = FidelityCurves.area(c.deletion)
            insertionAUC = FidelityCurves.area(c.insertion)
            randomDeletionAUC = FidelityCurves.area(c.randomDeletion)
            randomInsertionAUC = FidelityCurves.area(c.randomInsertion)
            steps = c.steps
            curves = Curves(deletion: c.deletion, insertion: c.insertion, randomDeletion: c.randomDeletion,
                            randomInsertion: c.randomInsertion)
        }

        /// The four areas on one line, for the PNG answer's X-Saliency-Fidelity header.
        var header: String {
            String(format: "deletion_auc=%.4f; insertion_auc=%.4f; random_deletion_auc=%.4f; random_insertion_auc=%.4f; steps=%d",
                   deletionAUC, insertionAUC, randomDeletionAUC, randomInsertionAUC, steps)
        }

        enum CodingKeys: String, CodingKey {
            case deletionAUC = "deletion_auc", insertionAUC = "insertion_auc", randomDeletionAUC = "random_deletion_auc"
            case randomInsertionAUC = "random_insertion_auc", steps, curves
        }
    }

    /// The black image at the model's input size as its preprocessing gives it (inversion included).
    static func black(_ model: LoadedModel) throws -> Tensor {
        let (h, w) = (model.inputShape[1], model.inputShape[2])
        let image = try Image(width: w, height: h, channels: 3, pixels: [UInt8](repeating: 0, count: w * h * 3))
        let (values, shape) = try model.preprocessing.apply(to: image)
        return Tensor(shape: shape, scalars: values)
    }

    /// Each channel's values from 8-bit samples 0 and 255 (the noise baseline's range).
    static func channelRanges(_ preprocessing: Preprocessing) -> [ClosedRange<Float>] {
        let channels = preprocessing.color == .grayscale ? 1 : 3
        return (0..<channels).map { c in
            let mean = preprocessing.mean[min(c, preprocessing.mean.count - 1)]
            let std = preprocessing.std[min(c, preprocessing.std.count - 1)]
            let (a, b) = ((0 - mean) / std, (255 * preprocessing.scale - mean) / std)
            return min(a, b)...max(a, b)
        }
    }

    /// The map is computed at the model's input size and drawn over a copy of the photo of at
    /// most `max_saliency_pixels`: the cost of a request does not grow with the photo's size
    /// beyond decoding it.
    func explain(_ bytes: Data, model: LoadedModel, request: SaliencyRequest) throws -> (result: Result, png: [UInt8]) {
        let target = try request.classIndex(labels: model.labels)
        let picture = try classifier.images.picture(bytes, preprocessing: model.preprocessing)
        var options = try request.options(black: Self.black(model), channelRanges: Self.channelRanges(model.preprocessing))
        options.batchSize = model.saliencyBatchSize(maxBytes: maxBatchBytes, preferred: request.steps ?? request.method.defaultSteps ?? 1)
        if request.method == .gradcam, let layer = request.layer {
            let layers = try SaliencyComputer(executor: Executor(graph: model.logitsGraph)).spatialLayers()
            guard layers.contains(layer) else {
                throw ServiceError.badParameter("layer '\(layer)' is not a node with a spatial output in the served graph (BatchNorm "
                    + "and activations are fused into the convolution before them); the last ones are "
                    + layers.suffix(5).joined(separator: ", "))
            }
        }
        let t0 = DispatchTime.now()
        var fidelityMs: Double?
        let (saliency, curves) = try model.pool.withExecutor { executor -> (SaliencyResult, FidelityCurves?) in
            let computer = SaliencyComputer(executor: executor)
            let saliency = try computer.compute(request.method, input: picture.input.tensor, targetClass: target, options: options)
            guard request.fidelity else { return (saliency, nil) }
            let started = DispatchTime.now()
            let input = picture.input.tensor
            // Pixels are ordered by the map as drawn; an RGB map by its largest channel.
            let order = ChannelReduction.maxAbs.apply(saliency.attribution)
            let steps = min(request.fidelitySteps, input.shape[2] * input.shape[3])
            let curves = try FidelityScorer(computer: computer).curves(
                input: input, map: order, target: saliency.targetClass, steps: steps,
                batchSize: model.saliencyBatchSize(maxBytes: maxBatchBytes, preferred: steps + 1), seed: options.seed)
            fidelityMs = milliseconds(started, DispatchTime.now())
            return (saliency, curves)
        }
        let t1 = DispatchTime.now()
        let reduced = request.reduction.apply(saliency.attribution)
        let canvas = picture.view.width * picture.view.height
        let png = try classifier.images.memory.withReservation(ImagePreparation.renderingBytes(pixels: canvas)) {
            try render(reduced, on: picture.view, region: picture.region, request: request)
        }
        let t2 = DispatchTime.now()
        let (h, w) = (saliency.attribution.shape[1], saliency.attribution.shape[2])
        let result = Result(
            model: model.name, method: request.method.rawValue,
            class: ClassRef(index: saliency.targetClass, label: model.labels[saliency.targetClass]),
            score: saliency.score, probability: Classifier.softmax(saliency.logits)[saliency.targetClass],
            map: MapValues(width: w, height: h, channels: reduced.rank == 3 ? reduced.shape[0] : 1, values: reduced.scalars),
            pngURL: nil, completenessError: saliency.completenessError, steps: saliency.steps,
            batchSize: saliency.batchSize, fidelity: curves.map(Fidelity.init),
            timingMs: ["decode": picture.input.decodeMs, "preprocess": picture.input.preprocessMs,
                       "saliency": milliseconds(t0, t1) - (fidelityMs ?? 0), "render": milliseconds(t1, t2)]
                .merging(fidelityMs.map { ["fidelity": $0] } ?? [:]) { a, _ in a })
        return (result, png)
    }

    /// One channel goes through a colormap; RGB attributions are shown as colors directly,
    /// each channel scaled by the same 99th percentile so their balance stays visible.
    private func render(_ map: Tensor, on image: Image, region: Preprocessing.Region, request: SaliencyRequest) throws -> [UInt8] {
        let renderer = HeatmapRenderer(colormap: request.colormap, overlayAlpha: request.overlay ? request.alpha : nil)
        guard map.rank == 3 else {
            return try renderer.renderPNG(Heatmap(width: map.shape[1], height: map.shape[0], values: map.scalars), on: image,
                                          region: region)
        }
        let (c, h, w) = (map.shape[0], map.shape[1], map.shape[2])
        let magnitudes = map.scalars.map { abs($0) }.sorted()
        let ceiling = max(magnitudes[min(magnitudes.count - 1, Int(Double(magnitudes.count - 1) * 0.99))], 1e-12)
        var planes: [[Float]] = []
        for ch in 0..<c {
            let plane = map.scalars[(ch * h * w)..<((ch + 1) * h * w)].map { min(abs($0) / ceiling, 1) }
            planes.append(try Heatmap(width: w, height: h, values: plane).resized(width: image.width, height: image.height,
                                                                                   region: region).values)
        }
        var pixels = [UInt8](repeating: 0, count: image.width * image.height * 3)
        for i in 0..<(image.width * image.height) {
            for k in 0..<3 { pixels[i * 3 + k] = UInt8(max(0, min(255, planes[min(k, c - 1)][i] * 255)).rounded()) }
        }
        var picture = try Image(width: image.width, height: image.height, channels: 3, pixels: pixels)
        if request.overlay { picture = try ColorConversion.rgb(image).overlaid(with: picture, alpha: request.alpha) }
        return try PNGEncoder.encode(picture)
    }
}
