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
        let seconds = Date().timeIntervalSince(started)
        // The trained model is worth waiting for the shared database a while: the worker's
        // `.saving` answer waits for its lease and says no once the job is another's.
        while true {
            guard report(.saving) else { return .stopped }
            do {
                try register(tuner: tuner, outcome: outcome, base: base, job: job, seconds: seconds)
                break
            } catch is DatabaseUnavailable {
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
        return .succeeded(outcome, labels: folder.classes)
    }

    /// Native models are registered with their new architecture; other graphs as ONNX, when
    /// this build can export ONNX.
    /// A job resumed after its model was registered (its worker lost the database or died
    /// before it could record the end) finds that version and registers nothing more.
    private func register(tuner: FineTuner, outcome: FineTuningOutcome, base: LoadedModel, job: Job, seconds: Double) throws {
        let provenance: [String: JSONValue] = ["job": .string(job.id)]
        if let version = try registry.storedVersion(of: job.outputModel, madeBy: job.id) {
            registry.logger.notice("the job's model was registered before", metadata: ["job": "\(job.id)", "version": "\(version)"])
            return
        }
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
