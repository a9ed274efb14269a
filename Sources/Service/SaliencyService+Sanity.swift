import CNN
import Foundation

extension SaliencyService {
    /// The answer of `POST /v1/models/{name}/saliency/sanity`.
    struct SanityAnswer: Codable {
        var model: String
        var version: Int
        var `class`: ClassRef
        /// The layers re-initialized, in the order of the cascade (top first).
        var layers: [String]
        var threshold: Double
        var methods: [MethodSanity]
        /// The methods whose maps barely changed.
        var flagged: [String]
        var passes: Int
        var timingMs: [String: Double]

        struct MethodSanity: Codable {
            var method: String
            /// Spearman's correlation with the trained model's map after each layer (null: a constant map).
            var spearman: [Double?]
            var meanSpearman: Double
            var flagged: Bool

            enum CodingKeys: String, CodingKey {
                case method, spearman, flagged, meanSpearman = "mean_spearman"
            }
        }

        enum CodingKeys: String, CodingKey {
            case model, version, `class`, layers, threshold, methods, flagged, passes, timingMs = "timing_ms"
        }
    }

    /// Cascading randomization (Adebayo et al. 2018) on a copy of the model read again from its
    /// files: the served model's weights are never touched. The cost is refused before any work
    /// past `max_sanity_passes`; the work runs on one of the model's executors, as saliency does.
    func sanityCheck(_ bytes: Data, model: LoadedModel, request: SanityRequest) throws -> SanityAnswer {
        let budgets = classifier.images.budgets
        guard !request.maps.isSeveral(labels: model.labels) else {
            throw ServiceError.badParameter("a sanity check explains one class: class= top, an index or a label")
        }
        let scoreNode = model.logitsGraph.outputName
        let all = model.graph.randomizableLayers(upTo: scoreNode)
        guard !all.isEmpty else { throw ServiceError.badParameter("the model has no convolution or dense layer to randomize") }
        let depth = min(request.depth ?? all.count, all.count)
        let passes = request.passes(layers: depth)
        guard passes <= budgets.maxSanityPasses else {
            throw BudgetError.exceeded("a sanity check of \(request.methods.count) methods over \(depth) layers is \(passes) forward and "
                + "backward passes (methods x (layers + 1) maps, integrated gradients and SmoothGrad counting their steps), more than "
                + "the \(budgets.maxSanityPasses) allowed; ask for fewer methods= or layers=, or fewer steps=", setting: "max_sanity_passes")
        }
        let target = try request.maps.targets(labels: model.labels)
        let picture = try classifier.images.picture(bytes, preprocessing: model.preprocessing)
        var options = try request.maps.options(black: Self.black(model), channelRanges: Self.channelRanges(model.preprocessing))
        options.batchSize = model.saliencyBatchSize(maxBytes: maxBatchBytes, preferred: request.maps.steps ?? 50)
        let t0 = DispatchTime.now()
        // A graph of its own, read again from the model's files (as a fine-tuning job's is).
        let weights = try Data(contentsOf: model.directory.appendingPathComponent(model.card.onnxFile ?? Checkpoint.weightsFile))
        let copy = try ModelFormats.graph(card: model.card, weights: weights)
        let t1 = DispatchTime.now()
        let check = SaliencySanityCheck(copy: copy, scoreNode: scoreNode)
        let targetClass: Int? = if case let .classes(indices) = target { indices.first } else { nil }
        let report = try model.pool.withExecutor { _ in
            try check.run(input: picture.input.tensor, targetClass: targetClass, methods: request.methods, depth: depth, options: options)
        }
        let t2 = DispatchTime.now()
        model.sanity.record(report)
        let methods = report.methods.map {
            SanityAnswer.MethodSanity(method: $0.method.rawValue, spearman: $0.steps.map(\.spearman), meanSpearman: $0.meanSpearman,
                                      flagged: $0.flagged)
        }
        return SanityAnswer(model: model.name, version: model.version,
                            class: ClassRef(index: report.targetClass, label: model.labels[report.targetClass]),
                            layers: report.layers, threshold: SaliencySanityCheck.flagThreshold, methods: methods,
                            flagged: methods.filter(\.flagged).map(\.method), passes: passes,
                            timingMs: ["copy": milliseconds(t0, t1), "check": milliseconds(t1, t2)])
    }
}
