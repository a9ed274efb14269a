import CNN
import Foundation

/// What a job writes after every epoch to `data/jobs/<id>/checkpoint/`: the current weights,
/// the best weights so far and where training stands. Optimizer state is not kept; a resumed
/// stage starts its optimizer afresh at the scheduled learning rate.
struct FineTuningCheckpoint: Codable {
    static let stateFile = "state.json"
    static let weightsFile = "weights.safetensors"
    static let bestFile = "best.safetensors"

    var stage: Int
    /// Epochs of `stage` completed.
    var epochsDone: Int
    var stageFinished: Bool
    var metrics: [JobEpochMetrics]
    var bestAccuracy: Float?
    var bestLoss: Float? = nil
    var bestEpoch: TransferPlan.BestEpoch? = nil
    /// The plan so far, with the learning rate the range test found.
    var plan: TransferPlan? = nil

    /// Weights first, then the state naming them, each atomically.
    func save(weights: [String: Tensor], best: [String: Tensor]?, to directory: URL) throws {
        try AtomicFile.write(Safetensors.encode(weights), to: directory.appendingPathComponent(Self.weightsFile))
        if let best { try AtomicFile.write(Safetensors.encode(best), to: directory.appendingPathComponent(Self.bestFile)) }
        try AtomicFile.write(JSONEncoder().encode(self), to: directory.appendingPathComponent(Self.stateFile))
    }

    static func load(from directory: URL) throws -> (state: FineTuningCheckpoint, weights: [String: Tensor], best: [String: Tensor]?)? {
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(stateFile).path) else { return nil }
        let state = try JSONDecoder().decode(FineTuningCheckpoint.self, from: data)
        let weights = try Safetensors.decode(Data(contentsOf: directory.appendingPathComponent(weightsFile)))
        let best = try FileManager.default.contents(atPath: directory.appendingPathComponent(bestFile).path).map(Safetensors.decode)
        return (state, weights, best)
    }
}
