import ArgumentParser
import CNN
import Foundation
import Service

/// `salient bench --transfer`'s settings: the benchmark as specified by default; the rest
/// measure the recipe's choices, on the development set (`--development`), never the test set.
struct TransferBenchmarkOptions: ParsableArguments {
    @Option(name: .customLong("shots"), help: "With --transfer: images per class, comma-separated.")
    var shots = "5,10,20,50"
    @Option(name: .customLong("seeds"), help: "With --transfer: how many seeds (0, 1, ...).")
    var seeds = 5
    @Option(name: .customLong("arms"), help: "With --transfer: transfer, probe, last, scratch, comma-separated.")
    var arms = "transfer,probe,last,scratch"
    @Option(name: .customLong("base-cache"), help: "With --transfer: where the trained base model is kept, by its recipe's hash.")
    var baseCache = ".build/transfer-base"
    @Flag(name: .customLong("rebuild-base"), help: "With --transfer: train the base model again even if it is cached.")
    var rebuildBase = false
    @Option(name: .customLong("base-epochs"), help: "With --transfer: the base model's epochs.") var baseEpochs: Int?
    /// On by default: a base trained on crops and brightness shifts learns features that hold
    /// for the new classes better (docs/DECISIONS.md, "The transfer benchmark's base is trained augmented").
    @Flag(name: .customLong("base-augment"), inversion: .prefixedNo,
          help: "With --transfer: augment the base model's training images (crops and brightness).")
    var baseAugment = true
    @Option(name: .customLong("learning-rates"), help: "With --transfer: the candidate rates, comma-separated, or auto (the range test).")
    var learningRates: String?
    @Option(name: .customLong("development"), help: "With --transfer: score on this many other training images per class instead of the test set.")
    var development: Int?
    @Option(name: .customLong("head-pooling"), help: "With --transfer: auto, flatten, average or concat.") var headPooling: HeadPooling?
    @Option(name: .customLong("head-hidden-units"), help: "With --transfer: the new head's hidden units (0: none).") var headHiddenUnits: Int?
    @Option(name: .customLong("head-dropout"), help: "With --transfer: the new head's dropout.") var headDropout: Float?
    @Option(name: .customLong("frozen-batchnorm"), help: "With --transfer: running, batch or train.") var frozenBatchNorm: FrozenBatchNorm?
    @Option(name: .customLong("head-share"), help: "With --transfer: the share of a two-stage arm's steps spent on the head.") var headShare: Float?
    @Option(name: .customLong("steps-scale"), help: "With --transfer: multiply every shot count's steps.") var stepsScale: Float?
    @Option(name: .customLong("discriminative-factor"), help: "With --transfer: each earlier layer group's rate divisor.") var discriminativeFactor: Float?
    @Option(name: .customLong("regularization"), help: "With --transfer: the fine-tuning arms' weight_decay or l2_sp.")
    var regularization: Regularization?
    @Option(name: .customLong("l2-sp-alpha"), help: "With --transfer and --regularization l2_sp: the pull toward the base's weights.")
    var l2SPAlpha: Float?
    @Option(name: .customLong("l2-sp-beta"), help: "With --transfer and --regularization l2_sp: the new head's decay toward zero.")
    var l2SPBeta: Float?
    @Option(name: .customLong("label-smoothing"), help: "With --transfer: the fine-tuning arms' label smoothing.")
    var labelSmoothing: Float?
    @Option(name: .customLong("mixup"), help: "With --transfer: the fine-tuning arms' mixup alpha (0: none).")
    var mixup: Float?
    @Flag(name: .customLong("no-augment"), help: "With --transfer: no augmentation in any arm.") var noAugment = false
    @Option(name: .customLong("flip"), help: "With --transfer: the augmentation's horizontal flip probability (default 0).") var flip: Float?
    @Option(name: .customLong("crop-scale"), help: "With --transfer: the augmentation's smallest crop, as a share of the area.") var cropScale: Float?
    @Flag(name: .customLong("keep-running-statistics"), help: "With --transfer: every BatchNorm on its running statistics in every stage.")
    var keepRunningStatistics = false
    @Flag(name: .customLong("scratch-new-head"), help: "With --transfer: scratch trains the transfer arm's architecture.") var scratchNewHead = false

    func benchmark() throws -> TransferBenchmark {
        var base = try TransferBase.fashionCNN()
        base.epochs = baseEpochs ?? base.epochs
        base.augment = baseAugment
        var benchmark = TransferBenchmark(base: base, cache: URL(fileURLWithPath: baseCache))
        benchmark.shots = try list(shots, "shots") { Int($0) }
        benchmark.seeds = (0..<UInt64(max(seeds, 1))).map { $0 }
        benchmark.arms = try list(arms, "arms") { TransferArm(rawValue: $0) }
        benchmark.rebuildsBase = rebuildBase
        if let learningRates {
            benchmark.learningRates = learningRates == "auto" ? [] : try list(learningRates, "learning-rates") { Float($0) }
        }
        benchmark.development = development
        benchmark.head.pooling = headPooling ?? benchmark.head.pooling
        benchmark.head.hiddenUnits = headHiddenUnits ?? benchmark.head.hiddenUnits
        benchmark.head.dropout = headDropout ?? benchmark.head.dropout
        benchmark.frozenBatchNorm = frozenBatchNorm ?? benchmark.frozenBatchNorm
        benchmark.headShare = headShare ?? benchmark.headShare
        benchmark.discriminativeFactor = discriminativeFactor ?? benchmark.discriminativeFactor
        benchmark.regularization = regularization ?? benchmark.regularization
        benchmark.l2SPAlpha = l2SPAlpha ?? benchmark.l2SPAlpha
        benchmark.l2SPBeta = l2SPBeta ?? benchmark.l2SPBeta
        benchmark.labelSmoothing = labelSmoothing ?? benchmark.labelSmoothing
        benchmark.mixup = mixup ?? benchmark.mixup
        benchmark.augment = !noAugment
        benchmark.augmentation.flipProbability = flip ?? benchmark.augmentation.flipProbability
        benchmark.augmentation.minimumScale = cropScale ?? benchmark.augmentation.minimumScale
        benchmark.keepsRunningStatistics = keepRunningStatistics
        benchmark.scratchWithNewHead = scratchNewHead
        if let stepsScale {
            benchmark.steps = benchmark.steps.mapValues { max(Int((Float($0) * stepsScale).rounded()), 1) }
        }
        return benchmark
    }

    private func list<T>(_ text: String, _ option: String, _ parse: (String) -> T?) throws -> [T] {
        let values = text.split(separator: ",").map { parse($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { throw ValidationError("--\(option): cannot read '\(text)'") }
        return values.map { $0! }
    }
}

extension HeadPooling: ExpressibleByArgument {}
extension FrozenBatchNorm: ExpressibleByArgument {}
extension Regularization: ExpressibleByArgument {}
