/// The epoch loop shared by `salient train` and background jobs: shuffle, step through
/// batches on a schedule, evaluate, report.
public struct FitOptions: Sendable {
    public var epochs: Int
    public var batchSize: Int
    public var learningRate: Float
    public var schedule: Schedule
    public var seed: UInt64

    public init(epochs: Int, batchSize: Int = 64, learningRate: Float = 3e-3, schedule: Schedule = .oneCycle, seed: UInt64 = 0) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.schedule = schedule
        self.seed = seed
    }
}

public struct EpochMetrics: Codable, Sendable {
    public var epoch: Int
    public var trainLoss: Float
    public var validationLoss: Float?
    public var validationAccuracy: Float?

    enum CodingKeys: String, CodingKey {
        case epoch
        case trainLoss = "train_loss", validationLoss = "validation_loss", validationAccuracy = "validation_accuracy"
    }
}

/// Where a run stands, reported after every step and every epoch.
public enum FitEvent: Sendable {
    case step(epoch: Int, step: Int, of: Int, loss: Float, learningRate: Float)
    case epoch(EpochMetrics)
}

extension Trainer {
    /// Trains for `options.epochs`; `report` may return false to stop after the current step.
    /// `augment` transforms each training batch (random crops, flips) before the step.
    @discardableResult
    public func fit(_ train: LabeledImages, validation: LabeledImages?, options: FitOptions,
                    startEpoch: Int = 0, augment: ((inout LabeledImages, inout RandomSource) -> Void)? = nil,
                    report: (FitEvent) -> Bool = { _ in true }) throws -> [EpochMetrics] {
        var random = RandomSource(seed: options.seed)
        let steps = max(train.count / options.batchSize, 1)
        var history: [EpochMetrics] = []
        for epoch in 0..<options.epochs {
            // Every epoch's order depends only on the seed, so a resumed run shuffles the same way.
            var order = Array(0..<train.count).shuffled(using: &random)
            if order.count < options.batchSize { order += order.prefix(options.batchSize - order.count) }
            guard epoch >= startEpoch else { continue }
            var lossSum: Float = 0
            for s in 0..<steps {
                let lr = options.schedule.learningRate(peak: options.learningRate, step: epoch * steps + s,
                                                       totalSteps: options.epochs * steps)
                var batch = train.batch(order[(s * options.batchSize)..<min((s + 1) * options.batchSize, order.count)])
                augment?(&batch, &random)
                let loss = try step(batch, learningRate: lr)
                lossSum += loss
                guard report(.step(epoch: epoch, step: s + 1, of: steps, loss: loss, learningRate: lr)) else {
                    return history
                }
            }
            // Evaluated in batches no larger than training's, which the caller sized to fit in memory.
            let evaluation = try validation.map { try evaluate($0, batchSize: options.batchSize) }
            let metrics = EpochMetrics(epoch: epoch + 1, trainLoss: lossSum / Float(steps),
                                       validationLoss: evaluation?.loss, validationAccuracy: evaluation?.accuracy)
            history.append(metrics)
            guard report(.epoch(metrics)) else { return history }
        }
        return history
    }
}
