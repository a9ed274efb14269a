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
        var timingMs: [String: Double]

        enum CodingKeys: String, CodingKey {
            case model, method, `class`, score, probability, map
            case pngURL = "png_url", completenessError = "completeness_error", timingMs = "timing_ms"
        }
    }

    /// The map is computed at the model's input size and drawn over a copy of the photo of at
    /// most `max_saliency_pixels`: the cost of a request does not grow with the photo's size
    /// beyond decoding it.
    func explain(_ bytes: Data, model: LoadedModel, request: SaliencyRequest) throws -> (result: Result, png: [UInt8]) {
        let target = try request.classIndex(labels: model.labels)
        let picture = try classifier.images.picture(bytes, preprocessing: model.preprocessing)
        var options = SaliencyOptions()
        options.batchSize = model.saliencyBatchSize(maxBytes: maxBatchBytes, preferred: options.batchSize)
        if request.method == .integratedGradients {
            let black = try Image(width: picture.view.width, height: picture.view.height, channels: 3,
                                  pixels: [UInt8](repeating: 0, count: picture.view.width * picture.view.height * 3))
            let (values, shape) = try model.preprocessing.apply(to: black)
            options.baseline = Tensor(shape: shape, scalars: values)
        }
        let t0 = DispatchTime.now()
        let saliency = try model.pool.withExecutor {
            try SaliencyComputer(executor: $0).compute(request.method, input: picture.input.tensor, targetClass: target, options: options)
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
            pngURL: nil, completenessError: saliency.completenessError,
            timingMs: ["decode": picture.input.decodeMs, "preprocess": picture.input.preprocessMs,
                       "saliency": milliseconds(t0, t1), "render": milliseconds(t1, t2)])
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
