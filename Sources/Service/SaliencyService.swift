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
        /// normalize=percentile: the values as drawn, 0 to 1; none: the raw values.
        var values: [Float]
        var normalize: String
        /// The raw values drawn at 0 and at full color (RGB maps: magnitudes); nil for
        /// normalize=none in JSON without scale=.
        var low: Float?
        var high: Float?
    }

    /// What the latest sanity check of this model version found for the method.
    struct SanityVerdict: Codable {
        var flagged: Bool
        var meanSpearman: Double
        var threshold: Double
        var layers: Int

        enum CodingKeys: String, CodingKey {
            case flagged, threshold, layers, meanSpearman = "mean_spearman"
        }

        /// For the PNG answer's X-Saliency-Sanity header.
        var header: String {
            String(format: "%@; mean_spearman=%.4f; threshold=%.2f; layers=%d", flagged ? "flagged" : "passed", meanSpearman,
                   threshold, layers)
        }
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
        /// The latest sanity check's verdict on this method for this model version, once one ran.
        var sanity: SanityVerdict?
        var timingMs: [String: Double]

        enum CodingKeys: String, CodingKey {
            case model, method, `class`, score, probability, map, steps, fidelity, sanity
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

    /// What `explain` gives: one result per class, and the rendered PNGs the answer needs.
    struct Explanation {
        var results: [Result]
        /// Each result's map at the photo's size (none for normalize=none without scale=), for a
        /// JSON answer or a single PNG.
        var maps: [[UInt8]]
        /// With `grid`, the maps side by side as one PNG, in the results' order.
        var grid: [UInt8]?
    }

    /// Columns of the grid of `count` maps: as square as it gets, wider than tall.
    static func gridColumns(_ count: Int) -> Int { Int(Double(count).squareRoot().rounded(.up)) }

    /// The maps are computed at the model's input size and drawn over a copy of the photo of at
    /// most `max_saliency_pixels`: the cost of a request does not grow with the photo's size
    /// beyond decoding it. Several classes come from the same forward passes; `grid` draws them
    /// as one PNG (each tile scaled so the grid stays within `max_saliency_pixels`) instead of one
    /// PNG each.
    func explain(_ bytes: Data, model: LoadedModel, request: SaliencyRequest, grid: Bool = false) throws -> Explanation {
        let targets = try request.targets(labels: model.labels)
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
        let computed = try model.pool.withExecutor { executor -> [(SaliencyResult, FidelityCurves?)] in
            let computer = SaliencyComputer(executor: executor)
            let maps = try computer.compute(request.method, input: picture.input.tensor, targets: targets, options: options)
            guard request.fidelity else { return maps.map { ($0, nil) } }
            let started = DispatchTime.now()
            let input = picture.input.tensor
            let steps = min(request.fidelitySteps, input.shape[2] * input.shape[3])
            let scorer = FidelityScorer(computer: computer)
            let scored = try maps.map { saliency in
                // Pixels are ordered by the map as drawn; an RGB map by its largest channel.
                (saliency, try scorer.curves(input: input, map: ChannelReduction.maxAbs.apply(saliency.attribution),
                                             target: saliency.targetClass, steps: steps,
                                             batchSize: model.saliencyBatchSize(maxBytes: maxBatchBytes, preferred: steps + 1),
                                             seed: options.seed))
            }
            fidelityMs = milliseconds(started, DispatchTime.now())
            return scored
        }
        let t1 = DispatchTime.now()
        let reduced = computed.map { request.reduction.apply($0.0.attribution) }
        let ranges = try reduced.map { try Self.valueRange($0, request: request) }
        var maps: [[UInt8]] = [], gridPNG: [UInt8]?
        if !ranges.contains(where: { $0 == nil }) {
            if grid {
                // Each tile small enough that the whole grid is within max_saliency_pixels.
                let columns = Self.gridColumns(reduced.count), rows = (reduced.count + columns - 1) / columns
                let budget = classifier.images.budgets.maxSaliencyPixels
                let tile = ImagePreparation.canvasSize(width: picture.view.width, height: picture.view.height,
                                                       maxPixels: max(budget / (columns * rows), 1))
                gridPNG = try classifier.images.memory.withReservation(ImagePreparation.renderingBytes(pixels: budget)) {
                    let view = tile.width == picture.view.width ? picture.view
                        : try picture.view.resized(width: tile.width, height: tile.height)
                    let (sx, sy) = (Double(view.width) / Double(picture.view.width), Double(view.height) / Double(picture.view.height))
                    let region = Preprocessing.Region(x: picture.region.x * sx, y: picture.region.y * sy,
                                                      width: picture.region.width * sx, height: picture.region.height * sy)
                    let tiles = try zip(reduced, ranges).map { try render($0, on: view, region: region, range: $1!, request: request) }
                    return try PNGEncoder.encode(Image.grid(tiles, columns: columns))
                }
            } else {
                let canvas = picture.view.width * picture.view.height
                maps = try zip(reduced, ranges).map { map, range in
                    try classifier.images.memory.withReservation(ImagePreparation.renderingBytes(pixels: canvas)) {
                        try PNGEncoder.encode(render(map, on: picture.view, region: picture.region, range: range!, request: request))
                    }
                }
            }
        }
        let t2 = DispatchTime.now()
        let probabilities = computed.first.map { Classifier.softmax($0.0.logits) } ?? []
        let results = zip(computed, zip(reduced, ranges)).map { item, drawn -> Result in
            let (saliency, curves) = item
            let (map, range) = drawn
            let (h, w) = (saliency.attribution.shape[1], saliency.attribution.shape[2])
            return Result(
                model: model.name, method: request.method.rawValue,
                class: ClassRef(index: saliency.targetClass, label: model.labels[saliency.targetClass]),
                score: saliency.score, probability: probabilities[saliency.targetClass],
                map: MapValues(width: w, height: h, channels: map.rank == 3 ? map.shape[0] : 1,
                               values: Self.values(map, range: range, request: request),
                               normalize: request.normalization.rawValue, low: range?.low, high: range?.high),
                pngURL: nil, completenessError: saliency.completenessError, steps: saliency.steps,
                batchSize: saliency.batchSize, fidelity: curves.map(Fidelity.init),
                sanity: model.sanity.verdict(for: request.method),
                timingMs: ["decode": picture.input.decodeMs, "preprocess": picture.input.preprocessMs,
                           "saliency": milliseconds(t0, t1) - (fidelityMs ?? 0), "render": milliseconds(t1, t2)]
                    .merging(fidelityMs.map { ["fidelity": $0] } ?? [:]) { a, _ in a })
        }
        return Explanation(results: results, maps: maps, grid: gridPNG)
    }

    /// The raw values a map is drawn from 0 to full color with: per map for normalize=percentile
    /// (its smallest value and its 99th percentile; for RGB maps 0 and the 99th percentile of
    /// the magnitudes), 0 and scale= for none; nil for none without a scale (no picture).
    static func valueRange(_ map: Tensor, request: SaliencyRequest) throws -> (low: Float, high: Float)? {
        switch request.normalization {
        case .none:
            return request.scale.map { (0, $0) }
        case .percentile:
            let (rows, width) = map.rank == 3 ? (map.shape[0] * map.shape[1], map.shape[2]) : (map.shape[0], map.shape[1])
            let values = map.rank == 3 ? map.scalars.map { abs($0) } : map.scalars
            guard let range = try Heatmap(width: width, height: rows, values: values).valueRange(.percentile()) else { return (0, 1) }
            return map.rank == 3 ? (0, range.high) : range
        }
    }

    /// The JSON values: as drawn (0 to 1; RGB maps' magnitudes) for percentile, raw for none.
    static func values(_ map: Tensor, range: (low: Float, high: Float)?, request: SaliencyRequest) -> [Float] {
        guard request.normalization == .percentile, let range else { return map.scalars }
        let span = range.high - range.low
        return map.scalars.map { raw in
            let value = map.rank == 3 ? abs(raw) : raw
            guard value.isFinite, span > 0 else { return 0 }
            return (min(max(value, range.low), range.high) - range.low) / span
        }
    }

    /// One channel goes through a colormap; RGB attributions are shown as colors directly, each
    /// channel's magnitude on the same range so their balance stays visible.
    private func render(_ map: Tensor, on image: Image, region: Preprocessing.Region, range: (low: Float, high: Float),
                        request: SaliencyRequest) throws -> Image {
        let normalization = Heatmap.Normalization.range(low: range.low, high: max(range.high, range.low + 1e-12))
        let renderer = HeatmapRenderer(colormap: request.colormap, normalization: normalization,
                                       overlayAlpha: request.overlay ? request.alpha : nil)
        guard map.rank == 3 else {
            return try renderer.render(Heatmap(width: map.shape[1], height: map.shape[0], values: map.scalars), on: image, region: region)
        }
        let (c, h, w) = (map.shape[0], map.shape[1], map.shape[2])
        var planes: [[Float]] = []
        for ch in 0..<c {
            let plane = map.scalars[(ch * h * w)..<((ch + 1) * h * w)].map { abs($0) }
            planes.append(try Heatmap(width: w, height: h, values: plane).normalized(normalization)
                .resized(width: image.width, height: image.height, region: region).values)
        }
        var pixels = [UInt8](repeating: 0, count: image.width * image.height * 3)
        for i in 0..<(image.width * image.height) {
            for k in 0..<3 { pixels[i * 3 + k] = UInt8(max(0, min(255, planes[min(k, c - 1)][i] * 255)).rounded()) }
        }
        var picture = try Image(width: image.width, height: image.height, channels: 3, pixels: pixels)
        if request.overlay { picture = try ColorConversion.rgb(image).overlaid(with: picture, alpha: request.alpha) }
        return picture
    }
}
