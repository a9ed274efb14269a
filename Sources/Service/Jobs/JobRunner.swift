import CNN
import Foundation
import Imaging

/// Runs one job from its dataset and base model to a registered model.
struct JobRunner {
    let registry: ModelRegistry
    let datasets: DatasetStore
    let limits: DecodingLimits
    /// `max_training_set_bytes`, checked again as the images are read.
    var maxTrainingSetBytes = Int.max
    let jobsRoot: URL

    enum Outcome {
        case succeeded(FineTuningOutcome, labels: [String])
        /// `report` returned false: cancelled or shutting down.
        case stopped
    }

    func checkpointDirectory(_ id: String) -> URL {
        jobsRoot.appendingPathComponent(id).appendingPathComponent("checkpoint")
    }

    func run(_ job: Job, report: (FineTuningEvent) -> Bool) throws -> Outcome {
        let request = job.request
        let base = try registry.model(named: request.baseModel)
        let weights = try Data(contentsOf: base.directory.appendingPathComponent(base.card.onnxFile ?? Checkpoint.weightsFile))
        // A graph of its own: the served one keeps answering while this one trains.
        let graph = try ModelFormats.graph(card: base.card, weights: weights)
        _ = try datasets.dataset(request.dataset)
        let folder = try ImageFolder(directory: try datasets.directory(request.dataset), preprocessing: base.preprocessing, limits: limits,
                                     maxBytes: maxTrainingSetBytes)
        let (train, validation) = TransferLearning.split(folder.images, fraction: request.validationSplit, seed: request.seed)
        let tuner = try FineTuner(base: graph, labels: folder.classes, request: request)
        let started = Date()
        guard let outcome = try tuner.run(train: train, validation: validation, checkpoint: checkpointDirectory(job.id),
                                          report: report) else { return .stopped }
        try register(tuner: tuner, outcome: outcome, base: base, job: job, seconds: Date().timeIntervalSince(started))
        return .succeeded(outcome, labels: folder.classes)
    }

    /// Native models are registered with their new architecture; other graphs as ONNX, when
    /// this build can export ONNX.
    private func register(tuner: FineTuner, outcome: FineTuningOutcome, base: LoadedModel, job: Job, seconds: Double) throws {
        let provenance: [String: JSONValue] = ["job": .string(job.id)]
        if base.card.architecture != nil {
            let card = try TransferLearning.card(tuner: tuner, outcome: outcome, base: base.card, dataset: job.request.dataset,
                                                 seconds: seconds, provenance: provenance)
            _ = try registry.register(card: card, files: [Checkpoint.weightsFile: Safetensors.encode(tuner.graph.namedTensors)],
                                      waitForImport: true)
        } else {
            let card = try TransferLearning.onnxCard(tuner: tuner, outcome: outcome, base: base.card, dataset: job.request.dataset,
                                                     seconds: seconds, provenance: provenance)
            _ = try registry.register(card: card, files: ["model.onnx": ModelFormats.onnx(tuner.graph)], waitForImport: true)
        }
    }
}
