import CNN
import Foundation
import Imaging

/// Decode, preprocess, infer, rank: the classification path, timed step by step.
struct Classifier {
    let configuration: ServiceConfiguration

    struct Prediction: Codable {
        var index: Int
        var label: String
        var probability: Float
        var logit: Float
    }

    struct Timing: Codable {
        var decode: Double
        var preprocess: Double
        var inference: Double
    }

    struct Result: Codable {
        var model: String
        var predictions: [Prediction]
        var timingMs: Timing

        enum CodingKeys: String, CodingKey {
            case model, predictions
            case timingMs = "timing_ms"
        }
    }

    /// Decoding and preprocessing within the budgets.
    var images: ImagePreparation

    init(configuration: ServiceConfiguration, memory: ImageMemory) {
        self.configuration = configuration
        images = ImagePreparation(configuration: configuration, memory: memory)
    }

    var limits: DecodingLimits { images.limits }

    /// Inference time includes the wait for a batch to form and run.
    /// Counted in the model's statistics as a request whose input is the decode and preprocessing.
    func classify(_ bytes: Data, model: LoadedModel, topK: Int) throws -> Result {
        var decodeMs = 0.0, preprocessMs = 0.0
        let start = DispatchTime.now()
        var t0 = start
        let logits: [Float]
        var timing: InferenceStatistics.RequestTiming
        do {
            let batched = try model.batcher.infer {
                let prepared = try images.input(bytes, preprocessing: model.preprocessing)
                (decodeMs, preprocessMs) = (prepared.decodeMs, prepared.preprocessMs)
                t0 = DispatchTime.now()
                return prepared.tensor
            }
            (logits, timing) = (batched.output.scalars, batched.timing)
        } catch {
            model.statistics.recordFailure(total: nanoseconds(since: start))
            throw error
        }
        let t1 = DispatchTime.now()
        let predictions = Classifier.rank(logits, labels: model.labels, topK: topK)
        timing.input = t0.uptimeNanoseconds - start.uptimeNanoseconds
        timing.output = nanoseconds(since: t1)
        model.statistics.recordSuccess(total: nanoseconds(since: start), timing)
        return Result(model: model.name, predictions: predictions,
                      timingMs: Timing(decode: decodeMs, preprocess: preprocessMs, inference: milliseconds(t0, t1)))
    }

    static func softmax(_ logits: [Float]) -> [Float] {
        let m = logits.max() ?? 0
        let e = logits.map { exp($0 - m) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }

    static func rank(_ logits: [Float], labels: [String], topK: Int) -> [Prediction] {
        let probabilities = softmax(logits)
        return logits.indices.sorted { logits[$0] > logits[$1] }.prefix(max(topK, 1)).map {
            Prediction(index: $0, label: $0 < labels.count ? labels[$0] : "\($0)", probability: probabilities[$0], logit: logits[$0])
        }
    }
}

func milliseconds(_ start: DispatchTime, _ end: DispatchTime) -> Double {
    (Double(end.uptimeNanoseconds - start.uptimeNanoseconds) / 1e4).rounded() / 100
}
