import CNN
import Foundation
import Imaging

/// The steps of a fine-tuning run that the job worker, `salient train --dataset` and the
/// transfer benchmark share.
public enum TransferLearning {
    /// A stratified split: `fraction` of every class (at least one image of any class with
    /// two or more) goes to validation, chosen by `seed`. No validation set when `fraction` is 0.
    public static func split(_ data: LabeledImages, fraction: Float, seed: UInt64) -> (train: LabeledImages, validation: LabeledImages?) {
        guard fraction > 0 else { return (data, nil) }
        var random = RandomSource(seed: seed)
        var byClass: [Int: [Int]] = [:]
        for (index, label) in data.labels.enumerated() { byClass[label, default: []].append(index) }
        var train: [Int] = [], validation: [Int] = []
        for label in byClass.keys.sorted() {
            let indices = byClass[label]!.shuffled(using: &random)
            let held = indices.count < 2 ? 0 : max(1, Int((Float(indices.count) * fraction).rounded()))
            validation += indices.prefix(min(held, indices.count - 1))
            train += indices.dropFirst(min(held, indices.count - 1))
        }
        return (data.batch(train.sorted()), validation.isEmpty ? nil : data.batch(validation.sorted()))
    }

    /// How a card says to preprocess images for its model.
    public static func preprocessing(of card: ModelCard) throws -> Preprocessing {
        try LoadedModel.preprocessing(from: card.preprocessing)
    }

    /// The card of a fine-tuned native model: the base architecture with the new head, the
    /// dataset's labels, the base's preprocessing, the hyper-parameters and the metrics.
    public static func card(tuner: FineTuner, outcome: FineTuningOutcome, base: ModelCard, dataset: String,
                            seconds: Double, provenance extra: [String: JSONValue] = [:]) throws -> ModelCard {
        guard let architecture = base.architecture else {
            throw GraphError(node: base.name, "the base model has no native architecture")
        }
        var replaced: Architecture
        switch tuner.replacement.choice {
        case .classifier:
            replaced = architecture.keeping(Set(tuner.graph.nodes.map(\.name)), appending: tuner.replacement.headLayers)
        case .last:
            replaced = try architecture.replacingHead(tuner.headNodes[0], units: tuner.labels.count)
        }
        replaced.name = tuner.request.outputModel
        let (provenance, metrics) = try record(tuner: tuner, outcome: outcome, base: base, dataset: dataset, seconds: seconds, extra: extra)
        return ModelCard(name: tuner.request.outputModel, architecture: replaced, labels: tuner.labels,
                         preprocessing: base.preprocessing, provenance: provenance, metrics: metrics, created: Date())
    }

    /// The card of a fine-tuned imported model, saved as `model.onnx` beside it.
    public static func onnxCard(tuner: FineTuner, outcome: FineTuningOutcome, base: ModelCard, dataset: String,
                                seconds: Double, provenance extra: [String: JSONValue] = [:]) throws -> ModelCard {
        let (provenance, metrics) = try record(tuner: tuner, outcome: outcome, base: base, dataset: dataset, seconds: seconds, extra: extra)
        return ModelCard(name: tuner.request.outputModel, architecture: nil, onnxFile: "model.onnx", labels: tuner.labels,
                         preprocessing: base.preprocessing, provenance: provenance, metrics: metrics, created: Date())
    }

    /// A fine-tuned model's provenance (base, dataset, hyper-parameters, head and cut) and metrics.
    private static func record(tuner: FineTuner, outcome: FineTuningOutcome, base: ModelCard, dataset: String, seconds: Double,
                               extra: [String: JSONValue]) throws -> (provenance: [String: JSONValue], metrics: [String: Double]) {
        var provenance = extra
        provenance["base_model"] = .string(base.name)
        provenance["dataset"] = .string(dataset)
        provenance["hyperparameters"] = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(tuner.request))
        provenance["source"] = .string("fine-tuned from \(base.name)")
        provenance["head"] = .string(outcome.plan.head.rawValue)
        if let cut = outcome.plan.cutAt { provenance["cut_at"] = .string(cut) }
        var metrics: [String: Double] = ["training_seconds": seconds.rounded(), "epochs_run": Double(outcome.metrics.count)]
        if let accuracy = outcome.validationAccuracy { metrics["validation_accuracy"] = Double(accuracy) }
        if let last = outcome.metrics.last { metrics["train_loss"] = Double(last.trainLoss) }
        if let rate = outcome.plan.learningRate { metrics["learning_rate"] = Double(rate) }
        return (provenance, metrics)
    }
}
