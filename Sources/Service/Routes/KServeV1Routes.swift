import CNN
import Foundation
import HTTPServer

/// KServe's v1 protocol, which its SDK and its users' scripts call: `:predict` and `:explain` on
/// `{"instances": [...]}`. An instance is an image, `{"b64": "<base64>"}` or an object holding one
/// (`{"image_bytes": {"b64": ...}}`, TensorFlow Serving's spelling), or a tensor of the model's
/// input shape as nested arrays. Predictions run as the Open Inference Protocol's (one batch, the
/// same statistics); explanations are the saliency route's JSON, the map kept at its `png_url`.
struct KServeV1Routes {
    let registry: ModelRegistry
    let images: ImagePreparation
    let saliency: SaliencyService
    let cache: SaliencyCache
    let configuration: ServiceConfiguration
    let metrics: ServiceMetrics

    struct Body: Decodable {
        var instances: [Instance]
        /// For `:explain`, the saliency route's query parameters: method, class, reduce,
        /// colormap, overlay, alpha.
        var parameters: [String: JSONValue]?
    }

    struct Prediction: Encodable {
        var index: Int
        var label: String
        var probability: Float
        /// The scores before softmax, one per class.
        var logits: [Float]
    }

    struct Predictions: Encodable {
        var predictions: [Prediction]
    }

    struct Explanations: Encodable {
        var explanations: [Explanation]
    }

    /// One instance's explanation: its map, or with several classes asked for, an array of them.
    enum Explanation: Encodable {
        case one(SaliencyService.Result)
        case several([SaliencyService.Result])

        func encode(to encoder: Encoder) throws {
            switch self {
            case let .one(result): try result.encode(to: encoder)
            case let .several(results): try results.encode(to: encoder)
            }
        }
    }

    /// KServe's SDK sends application/json; curl's `-d` sends it as a form, which only clients
    /// that are not browsers may.
    static let bodies = AcceptedBodyTypes(["application/json"], untypedFromNonBrowsers: true)

    func register(on router: GuardedRouter) {
        router.inference("/v1/models/:name:predict", bodies: Self.bodies) { request in
            let model = try registry.model(named: request.parameter("name"))
            let started = DispatchTime.now()
            let body = try decode(request, model: model)
            let rows = try predict(body.instances, model: model, received: started)
            metrics.recordInference(model: model.name, kind: "predict", seconds: seconds(since: started))
            return try .json(Predictions(predictions: rows.map { logits in
                let probabilities = Classifier.softmax(logits)
                let best = logits.indices.max { logits[$0] < logits[$1] } ?? 0
                return Prediction(index: best, label: best < model.labels.count ? model.labels[best] : "\(best)",
                                  probability: probabilities[best], logits: logits)
            }))
        }
        router.inference("/v1/models/:name:explain", bodies: Self.bodies) { request in
            let model = try registry.model(named: request.parameter("name"))
            let body = try decode(request, model: model)
            // The answer is JSON whatever `format` says (normalize=none needs no scale= then).
            let options = try SaliencyRequest(budgets: images.budgets) { $0 == "format" ? "json" : body.parameters?[$0].flatMap(Self.text) }
            let encoded = try body.instances.enumerated().map { index, instance -> Data in
                guard case let .image(bytes) = instance else {
                    throw ServiceError.badParameter("instances[\(index)]: explain draws the map over an image; send {\"b64\": ...}")
                }
                return bytes
            }
            try images.checkRequest(encoded)
            let explanations = try encoded.map { bytes -> Explanation in
                let started = DispatchTime.now()
                var explanation = try saliency.explain(bytes, model: model, request: options)
                metrics.recordInference(model: model.name, kind: "explain", seconds: seconds(since: started))
                for (k, png) in explanation.maps.enumerated() { explanation.results[k].pngURL = "/v1/saliency/\(try cache.store(png)).png" }
                return options.isSeveral(labels: model.labels) ? .several(explanation.results) : .one(explanation.results[0])
            }
            return try .json(Explanations(explanations: explanations))
        }
    }

    private func decode(_ request: HTTPServerRequest, model: LoadedModel) throws -> Body {
        try InferenceRequest.checkValueCount(request.body, limits: inference(model).limits)
        let body: Body
        do {
            body = try JSONDecoder().decode(Body.self, from: request.body)
        } catch let error as DecodingError {
            throw ServiceError.badParameter("the body must be {\"instances\": [...]}: \(error.problem)")
        }
        guard !body.instances.isEmpty else { throw ServiceError.badParameter("instances is empty") }
        return body
    }

    /// One row of logits per instance, all instances run as one Open Inference request.
    private func predict(_ parsed: [Instance], model: LoadedModel, received: DispatchTime) throws -> [[Float]] {
        let input: InferenceRequest.Input
        switch parsed.first {
        case .image?:
            let encoded = try parsed.enumerated().map { index, instance -> Data in
                guard case let .image(bytes) = instance else {
                    throw ServiceError.badParameter("instances[\(index)] is a tensor; one request holds images or tensors, not both")
                }
                return bytes
            }
            input = .init(name: model.graph.inputName, shape: [encoded.count], datatype: .bytes, values: .bytes(encoded))
        default:
            let elements = model.inputShape.reduce(1, *)
            let values = try parsed.enumerated().flatMap { index, instance -> [Float] in
                guard case let .tensor(values) = instance else {
                    throw ServiceError.badParameter("instances[\(index)] is an image; one request holds images or tensors, not both")
                }
                guard values.count == elements else {
                    throw ServiceError.badParameter("instances[\(index)] has \(values.count) values; model '\(model.name)' takes "
                        + "\(model.inputShape) = \(elements)")
                }
                return values
            }
            input = .init(name: model.graph.inputName, shape: [parsed.count] + model.inputShape, datatype: .fp32, values: .fp32(values))
        }
        let request = InferenceRequest(id: nil, inputs: [input], outputs: nil, binaryDataOutput: false)
        let response = try inference(model).run(request, received: received)
        guard let output = response.outputs.first, case let .fp32(logits) = output.values else { return [] }
        let classes = output.shape.last ?? 1
        return stride(from: 0, to: logits.count, by: classes).map { Array(logits[$0..<($0 + classes)]) }
    }

    /// An image (`{"b64": ...}`, or an object with a field holding that) or nested numbers.
    private func inference(_ model: LoadedModel) -> ModelInference {
        ModelInference(model: model, images: images, maxBatchSize: configuration.maxBatchSize)
    }

    enum Instance: Decodable {
        case image(Data)
        case tensor([Float])

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            guard let fields = try? container.decode([String: JSONValue].self) else {
                self = .tensor(try container.decode(InferenceRequest.FlatNumbers.self).values)
                return
            }
            let b64 = fields["b64"] ?? fields.keys.sorted().lazy.compactMap { key -> JSONValue? in
                if case let .object(inner)? = fields[key] { return inner["b64"] }
                return nil
            }.first
            guard case let .string(text)? = b64 else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription:
                    "an image is {\"b64\": \"<base64>\"} or an object holding one")
            }
            guard let bytes = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "b64 is not base64")
            }
            self = .image(bytes)
        }
    }

    /// A parameter's value as the saliency route's query would carry it.
    static func text(_ value: JSONValue) -> String? {
        switch value {
        case let .string(text): return text
        case let .number(number): return number == number.rounded() ? "\(Int(number))" : "\(number)"
        case let .bool(flag): return "\(flag)"
        default: return nil
        }
    }
}
