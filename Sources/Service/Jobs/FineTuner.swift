import CNN
import Foundation

public enum FineTuningEvent: Sendable {
    /// Stage 0 is the learning-rate range test.
    case progress(JobProgress)
    case epoch(JobEpochMetrics)
    /// The plan as it stands: after the head is replaced, the range test, each stage's start and the end.
    case plan(TransferPlan)
    /// About to write what outlives the run: an epoch's checkpoint, or the trained model.
    /// Returning false stops the run without writing it (a worker that cannot be sure it still
    /// holds the job's lease).
    case saving
}

public struct FineTuningOutcome: Sendable {
    public var metrics: [JobEpochMetrics]
    /// On the validation split with the best weights; nil without a validation split.
    public var report: ClassificationReport?
    public var validationAccuracy: Float?
    public var plan: TransferPlan
}

/// Transfer learning as the lecture and fastai's `fine_tune` describe it, on a graph whose head
/// was replaced (`HeadReplacement`): stage 1 trains the new head on the frozen body at the peak
/// rate; stage 2, when `freeze` allows, unfreezes the layer groups at half that rate, each
/// earlier group a `discriminative_factor` lower. Each stage runs its own one-cycle schedule,
/// stops early when the validation split stops improving, and hands the next stage its best
/// weights; the model keeps the best epoch of all. With `learning_rate: "auto"` the range test
/// picks the peak rate first.
public final class FineTuner {
    public let graph: Graph
    public let replacement: HeadReplacement.Result
    public let labels: [String]
    public let request: JobRequest
    public private(set) var plan: TransferPlan
    /// What `augment` applies to each training batch (no flips without `horizontal_flip`).
    public var augmentation = Augmentation()
    /// Every BatchNorm layer, frozen or not, normalizes by the running statistics in every stage.
    public var keepsRunningStatistics = false
    /// With `regularization: l2_sp`, the penalty holding the base's weights as they were before any training.
    public let penalty: StartingPointPenalty?

    public var headNodes: [String] { replacement.headNodes }
    public var bodyGroups: [[String]] { replacement.bodyGroups }

    public init(base: Graph, labels: [String], request: JobRequest) throws {
        replacement = try HeadReplacement.replacing(of: base, classes: labels.count, choice: request.head,
                                                    design: request.headDesign, seed: request.seed)
        graph = replacement.graph
        self.labels = labels
        self.request = request
        if request.regularization == .l2SP {
            let head = Set(replacement.headNodes)
            penalty = StartingPointPenalty(
                pretrained: graph.nodes.filter { !head.contains($0.name) }.flatMap { $0.op.parameters }, alpha: request.l2SPAlpha,
                fresh: graph.nodes.filter { head.contains($0.name) }.flatMap { $0.op.parameters }, beta: request.l2SPBeta)
        } else {
            penalty = nil
        }
        augmentation.flipProbability = request.horizontalFlip ? augmentation.flipProbability : 0
        var fixed: Float?
        if case let .fixed(rate) = request.learningRate { fixed = rate }
        plan = TransferPlan(head: request.head, cutAt: replacement.cut?.node, replaced: replacement.cut?.removed ?? replacement.headNodes,
                            newHead: replacement.headNodes, layerGroups: replacement.bodyGroups, learningRate: fixed,
                            learningRateFinder: nil, stages: [], best: nil)
    }

    /// Stage 2 starts from half the peak rate, as the head has already been fitted (fastai's `fine_tune`).
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
                plan = saved.state.plan ?? plan
            }
        }
        if plan.learningRate == nil {
            guard let found = try findLearningRate(train, report: report) else { return nil }
            plan.learningRateFinder = found
            plan.learningRate = found.suggestion
        }
        guard report(.plan(plan)) else { return nil }
        while state.stage <= stageCount {
            if !state.stageFinished {
                let stage = describe(stage: state.stage)
                plan.stages = plan.stages.filter { $0.stage < state.stage } + [stage]
                guard report(.plan(plan)),
                      try runStage(&state, best: &best, train: train, validation: validation, checkpoint: checkpoint, report: report) else {
                    return nil
                }
            }
            // The next stage starts from this one's best weights.
            if let best { try graph.load(best) }
            state = FineTuningCheckpoint(stage: state.stage + 1, epochsDone: 0, stageFinished: false, metrics: state.metrics,
                                         bestAccuracy: state.bestAccuracy, bestLoss: state.bestLoss, bestEpoch: state.bestEpoch,
                                         plan: plan)
        }
        if let best { try graph.load(best) }
        plan.best = state.bestEpoch
        _ = report(.plan(plan))
        guard let validation, validation.count > 0 else {
            return FineTuningOutcome(metrics: state.metrics, report: nil, validationAccuracy: nil, plan: plan)
        }
        let evaluation = try Trainer(graph: graph, optimizer: SGD(groups: [])).evaluate(validation, batchSize: request.batchSize)
        return FineTuningOutcome(
            metrics: state.metrics,
            report: ClassificationReport(labels: labels, truth: validation.labels, predictions: evaluation.predictions),
            validationAccuracy: evaluation.accuracy, plan: plan)
    }

    /// The parameter groups of a stage, the body's groups then the head, and the BatchNorm layers
    /// set for it: in a frozen group they run as `frozen_batchnorm` says (with `train`, their
    /// scale and shift form a trained group of their own at the group's rate).
    public func parameterGroups(stage: Int) -> [ParameterGroup] {
        let frozen = stage == 1 ? bodyGroups.count : request.frozenGroupsInStage2(groupCount: bodyGroups.count) ?? bodyGroups.count
        let byName = Dictionary(graph.nodes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var groups: [ParameterGroup] = []
        for (index, names) in bodyGroups.enumerated() {
            let scale = pow(1 / request.discriminativeFactor, Float(bodyGroups.count - index))
            let isFrozen = index < frozen
            let norms = names.compactMap { byName[$0]?.op as? BatchNorm }
            for norm in norms { norm.usesRunningStatistics = keepsRunningStatistics || (isFrozen && request.frozenBatchNorm == .running) }
            if isFrozen && request.frozenBatchNorm == .train && !norms.isEmpty {
                let normNames = Set(names.filter { byName[$0]?.op is BatchNorm })
                groups.append(ParameterGroup(name: "group\(index + 1)", parameters: names.filter { !normNames.contains($0) }
                    .flatMap { byName[$0]!.op.parameters }, learningRateScale: scale, isFrozen: true))
                groups.append(ParameterGroup(name: "group\(index + 1).batchnorm", parameters: norms.flatMap(\.parameters),
                                             learningRateScale: scale))
            } else {
                groups.append(ParameterGroup(name: "group\(index + 1)", parameters: names.flatMap { byName[$0]!.op.parameters },
                                             learningRateScale: scale, isFrozen: isFrozen))
            }
        }
        groups.append(ParameterGroup(name: "head", parameters: headNodes.flatMap { byName[$0]!.op.parameters }))
        return groups
    }

    /// The peak learning rate of a stage.
    func peakLearningRate(stage: Int) -> Float {
        (plan.learningRate ?? 1e-3) * (stage == 1 ? 1 : FineTuner.stage2RateFactor)
    }

    /// What trains in a stage and at which peak rates, as the job shows it.
    public func describe(stage: Int) -> TransferPlan.Stage {
        let groups = parameterGroups(stage: stage)
        let peak = peakLearningRate(stage: stage)
        var frozen: [String] = [], trained: [String] = [], rates: [String: Float] = [:]
        let byName = Dictionary(graph.nodes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for name in bodyGroups.joined() + headNodes where !(byName[name]?.op.parameters.isEmpty ?? true) {
            let trains = byName[name]!.op.parameters.contains { $0.isTrainable }
            if trains { trained.append(name) } else { frozen.append(name) }
        }
        for group in groups where !group.isFrozen && !group.parameters.isEmpty {
            rates[group.name] = peak * group.learningRateScale
        }
        let hasFrozenNorms = bodyGroups.joined().contains { frozen.contains($0) && byName[$0]?.op is BatchNorm }
            || (request.frozenBatchNorm == .train && groups.contains { $0.name.hasSuffix(".batchnorm") })
        return TransferPlan.Stage(stage: stage, frozen: frozen, trained: trained, learningRates: rates,
                                  frozenBatchNorm: hasFrozenNorms ? request.frozenBatchNorm : nil)
    }

    /// The range test on stage 1's groups; nil when `report` asked to stop.
    private func findLearningRate(_ train: LabeledImages, report: (FineTuningEvent) -> Bool) throws -> LearningRateFinder.Result? {
        let groups = parameterGroups(stage: 1)
        let trainer = Trainer(graph: graph, optimizer: makeOptimizer(groups), seed: request.seed)
        trainer.penalty = penalty
        trainer.labelSmoothing = request.labelSmoothing
        trainer.mixup = request.mixup > 0 ? Mixup(alpha: request.mixup) : nil
        let finder = LearningRateFinder()
        let augmentation = self.augmentation
        var step = 0, stopped = false
        let result = try finder.run(trainer, on: train, batchSize: request.batchSize, seed: request.seed,
                                    augment: request.augment ? { augmentation.apply(&$0, &$1) } : nil) {
            step += 1
            stopped = !report(.progress(JobProgress(stage: 0, epoch: 1, epochs: 1, step: step, steps: finder.iterations)))
            return !stopped
        }
        return stopped ? nil : result
    }

    /// The optimizer of a stage; with L2-SP it decays nothing toward zero, as the penalty takes that role.
    private func makeOptimizer(_ groups: [ParameterGroup]) -> Optimizer {
        let decay = request.regularization == .weightDecay ? request.weightDecay : 0
        return request.optimizer == "sgd" ? SGD(groups: groups, momentum: 0.9, weightDecay: decay) : AdamW(groups: groups, weightDecay: decay)
    }

    /// Whether an epoch's validation figures beat the best so far: higher accuracy, or as high
    /// with a lower loss (a few validation images give few distinct accuracies).
    static func improves(accuracy: Float, loss: Float?, over best: (accuracy: Float, loss: Float?)?) -> Bool {
        guard let best else { return true }
        if accuracy != best.accuracy { return accuracy > best.accuracy }
        guard let loss, let bestLoss = best.loss else { return false }
        return loss < bestLoss
    }

    private func runStage(_ state: inout FineTuningCheckpoint, best: inout [String: Tensor]?, train: LabeledImages,
                          validation: LabeledImages?, checkpoint: URL?, report: (FineTuningEvent) -> Bool) throws -> Bool {
        let stage = state.stage
        let epochs = request.epochs(stage: stage)
        let trainer = Trainer(graph: graph, optimizer: makeOptimizer(parameterGroups(stage: stage)), seed: request.seed &+ UInt64(stage))
        trainer.penalty = penalty
        trainer.labelSmoothing = request.labelSmoothing
        trainer.mixup = request.mixup > 0 ? Mixup(alpha: request.mixup) : nil
        let options = FitOptions(epochs: epochs, batchSize: min(request.batchSize, train.count),
                                 learningRate: peakLearningRate(stage: stage), schedule: request.schedule,
                                 seed: request.seed &+ UInt64(stage))
        let augmentation = self.augmentation
        var stageBest: (accuracy: Float, loss: Float?)?
        for m in state.metrics where m.stage == stage {
            if let accuracy = m.validationAccuracy, FineTuner.improves(accuracy: accuracy, loss: m.validationLoss, over: stageBest) {
                stageBest = (accuracy, m.validationLoss)
            }
        }
        var sinceImprovement = 0
        var stoppedEarly = false
        var checkpointError: Error?
        var withheld = false
        try trainer.fit(train, validation: validation, options: options, startEpoch: state.epochsDone,
                        augment: request.augment ? { augmentation.apply(&$0, &$1) } : nil) { event in
            switch event {
            case let .step(epoch, step, steps, _, _):
                return report(.progress(JobProgress(stage: stage, epoch: epoch + 1, epochs: epochs, step: step, steps: steps)))
            case let .epoch(m):
                let metrics = JobEpochMetrics(epoch: m.epoch, stage: stage, trainLoss: m.trainLoss,
                                              validationLoss: m.validationLoss, validationAccuracy: m.validationAccuracy)
                state.metrics.append(metrics)
                state.epochsDone = m.epoch
                if let accuracy = m.validationAccuracy {
                    let overall = state.bestAccuracy.map { ($0, state.bestLoss) }
                    if FineTuner.improves(accuracy: accuracy, loss: m.validationLoss, over: overall) {
                        (state.bestAccuracy, state.bestLoss) = (accuracy, m.validationLoss)
                        state.bestEpoch = TransferPlan.BestEpoch(stage: stage, epoch: m.epoch, validationAccuracy: accuracy,
                                                                 validationLoss: m.validationLoss)
                        best = graph.namedTensors
                    }
                    if FineTuner.improves(accuracy: accuracy, loss: m.validationLoss, over: stageBest) {
                        stageBest = (accuracy, m.validationLoss)
                        sinceImprovement = 0
                    } else {
                        sinceImprovement += 1
                    }
                }
                stoppedEarly = request.earlyStoppingPatience > 0 && sinceImprovement >= request.earlyStoppingPatience
                state.stageFinished = stoppedEarly || m.epoch == epochs
                state.plan = plan
                guard checkpoint == nil || report(.saving) else {
                    withheld = true
                    return false
                }
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
        return state.stageFinished && !withheld
    }
}
