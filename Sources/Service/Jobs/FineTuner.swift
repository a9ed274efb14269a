import CNN
import Foundation

public enum FineTuningEvent: Sendable {
    case progress(JobProgress)
    case epoch(JobEpochMetrics)
}

public struct FineTuningOutcome: Sendable {
    public var metrics: [JobEpochMetrics]
    /// On the validation split with the best weights; nil without a validation split.
    public var report: ClassificationReport?
    public var validationAccuracy: Float?
}

/// Two-stage transfer learning on a graph whose head was replaced: stage 1 trains the head
/// with the body frozen; stage 2, when the request's `freeze` allows, unfreezes the later
/// layer groups, each earlier group at the next one's learning rate divided by the
/// discriminative factor. The best epoch by validation accuracy wins.
public final class FineTuner {
    public let graph: Graph
    public let head: String
    public let bodyGroups: [[String]]
    public let labels: [String]
    public let request: JobRequest

    public init(base: Graph, labels: [String], request: JobRequest) throws {
        let replaced = try HeadReplacement.replacingHead(of: base, classes: labels.count, seed: request.seed)
        graph = replaced.graph
        head = replaced.head
        bodyGroups = replaced.bodyGroups
        self.labels = labels
        self.request = request
    }

    /// Stage 2 starts from half the peak rate, as the head has already been fitted.
    static let stage2RateFactor: Float = 0.5

    var stageCount: Int { request.frozenGroupsInStage2(groupCount: bodyGroups.count) == nil ? 1 : 2 }

    /// Trains, checkpointing after every epoch when `checkpoint` is given and resuming from it
    /// when it holds one. Returns nil when `report` returned false (cancelled or shutting
    /// down); the graph then holds the last weights.
    public func run(train: LabeledImages, validation: LabeledImages?, checkpoint: URL?,
                    report: (FineTuningEvent) -> Bool) throws -> FineTuningOutcome? {
        var state = FineTuningCheckpoint(stage: 1, epochsDone: 0, stageFinished: false, metrics: [], bestAccuracy: nil)
        var best: [String: Tensor]?
        if let checkpoint {
            try FileManager.default.createDirectory(at: checkpoint, withIntermediateDirectories: true)
            if let saved = try FineTuningCheckpoint.load(from: checkpoint) {
                try graph.load(saved.weights)
                (state, best) = (saved.state, saved.best)
            }
        }
        while state.stage <= stageCount {
            if !state.stageFinished {
                guard try runStage(&state, best: &best, train: train, validation: validation, checkpoint: checkpoint, report: report) else {
                    return nil
                }
            }
            state = FineTuningCheckpoint(stage: state.stage + 1, epochsDone: 0, stageFinished: false, metrics: state.metrics,
                                         bestAccuracy: state.bestAccuracy)
        }
        if let best { try graph.load(best) }
        guard let validation, validation.count > 0 else {
            return FineTuningOutcome(metrics: state.metrics, report: nil, validationAccuracy: nil)
        }
        let evaluation = try Trainer(graph: graph, optimizer: SGD(groups: [])).evaluate(validation)
        return FineTuningOutcome(
            metrics: state.metrics,
            report: ClassificationReport(labels: labels, truth: validation.labels, predictions: evaluation.predictions),
            validationAccuracy: evaluation.accuracy)
    }

    /// The parameter groups of a stage: the body's groups, then the head.
    public func parameterGroups(stage: Int) -> [ParameterGroup] {
        let frozen = stage == 1 ? bodyGroups.count : request.frozenGroupsInStage2(groupCount: bodyGroups.count) ?? bodyGroups.count
        let byName = Dictionary(graph.nodes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var groups = bodyGroups.enumerated().map { index, names in
            ParameterGroup(name: "group\(index + 1)", parameters: names.flatMap { byName[$0]!.op.parameters },
                           learningRateScale: pow(1 / request.discriminativeFactor, Float(bodyGroups.count - index)),
                           isFrozen: index < frozen)
        }
        groups.append(ParameterGroup(name: "head", parameters: byName[head]!.op.parameters))
        return groups
    }

    private func runStage(_ state: inout FineTuningCheckpoint, best: inout [String: Tensor]?, train: LabeledImages,
                          validation: LabeledImages?, checkpoint: URL?, report: (FineTuningEvent) -> Bool) throws -> Bool {
        let stage = state.stage
        let groups = parameterGroups(stage: stage)
        let optimizer: Optimizer = request.optimizer == "sgd" ? SGD(groups: groups, momentum: 0.9, weightDecay: 1e-4)
                                                              : AdamW(groups: groups, weightDecay: 1e-4)
        let trainer = Trainer(graph: graph, optimizer: optimizer, seed: request.seed &+ UInt64(stage))
        let options = FitOptions(epochs: request.epochs, batchSize: min(request.batchSize, train.count),
                                 learningRate: request.learningRate * (stage == 1 ? 1 : FineTuner.stage2RateFactor),
                                 schedule: request.schedule, seed: request.seed &+ UInt64(stage))
        let augmentation = Augmentation()
        var stageBest = state.metrics.filter { $0.stage == stage }.compactMap(\.validationAccuracy).max()
        var sinceImprovement = 0
        var stoppedEarly = false
        var checkpointError: Error?
        try trainer.fit(train, validation: validation, options: options, startEpoch: state.epochsDone,
                        augment: request.augment ? { augmentation.apply(&$0, &$1) } : nil) { event in
            switch event {
            case let .step(epoch, step, steps, _, _):
                return report(.progress(JobProgress(stage: stage, epoch: epoch + 1, epochs: request.epochs, step: step, steps: steps)))
            case let .epoch(m):
                let metrics = JobEpochMetrics(epoch: m.epoch, stage: stage, trainLoss: m.trainLoss,
                                              validationLoss: m.validationLoss, validationAccuracy: m.validationAccuracy)
                state.metrics.append(metrics)
                state.epochsDone = m.epoch
                if let accuracy = m.validationAccuracy {
                    if accuracy > (state.bestAccuracy ?? -1) {
                        state.bestAccuracy = accuracy
                        best = graph.namedTensors
                    }
                    if accuracy > (stageBest ?? -1) { stageBest = accuracy; sinceImprovement = 0 } else { sinceImprovement += 1 }
                }
                stoppedEarly = request.earlyStoppingPatience > 0 && sinceImprovement >= request.earlyStoppingPatience
                state.stageFinished = stoppedEarly || m.epoch == request.epochs
                do {
                    if let checkpoint { try state.save(weights: graph.namedTensors, best: best, to: checkpoint) }
                } catch {
                    checkpointError = error
                    return false
                }
                return report(.epoch(metrics)) && !stoppedEarly
            }
        }
        if let checkpointError { throw checkpointError }
        return state.stageFinished
    }
}
