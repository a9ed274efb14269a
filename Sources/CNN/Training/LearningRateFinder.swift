import Foundation

/// The learning-rate range test as fastai's `lr_find` runs it (Smith 2015): one short pass of
/// training with the rate growing exponentially from `start` to `end` over `iterations` steps,
/// recording the loss smoothed as fastai's recorder does (an exponential average, beta 0.98,
/// debiased), stopping once it exceeds four times its best. The weights are restored after.
public struct LearningRateFinder: Sendable {
    public var start: Float = 1e-7
    public var end: Float = 10
    public var iterations = 100
    public var stopsOnDivergence = true

    public init() {}

    public enum Method: String, Codable, Sendable {
        /// The rate at the steepest descent of the loss against log(rate) (fastai's `steep`).
        case steepest
        /// One tenth of the rate at the loss minimum (fastai's `minimum`): the fallback when
        /// the smoothed loss never descends.
        case minimumOverTen = "minimum/10"
    }

    public struct Result: Codable, Sendable, Equatable {
        /// One entry per step run.
        public var learningRates: [Float]
        public var losses: [Float]
        public var suggestion: Float
        public var method: Method

        enum CodingKeys: String, CodingKey {
            case learningRates = "learning_rates", losses, suggestion, method
        }
    }

    /// Runs the test with `trainer` (its optimizer's groups set what trains and at what
    /// relative rates) on batches of `data`, and puts every weight and buffer back.
    public func run(_ trainer: Trainer, on data: LabeledImages, batchSize: Int, seed: UInt64,
                    augment: ((inout LabeledImages, inout RandomSource) -> Void)? = nil,
                    shouldContinue: () -> Bool = { true }) throws -> Result {
        let saved = trainer.graph.namedTensors
        defer { try? trainer.graph.load(saved) }
        var random = RandomSource(seed: seed)
        let batch = min(batchSize, data.count)
        var order: [Int] = []
        var rates: [Float] = [], losses: [Float] = []
        var average: Float = 0, best = Float.infinity
        let steps = max(iterations, 6)
        for step in 0..<steps {
            guard shouldContinue() else { break }
            if order.count < batch { order += Array(0..<data.count).shuffled(using: &random) }
            var images = data.batch(order.prefix(batch))
            order.removeFirst(batch)
            augment?(&images, &random)
            let rate = start * pow(end / start, Float(step) / Float(steps))
            let loss = try trainer.step(images, learningRate: rate)
            average = 0.98 * average + 0.02 * loss
            let smoothed = average / (1 - pow(0.98, Float(step + 1)))
            rates.append(rate)
            losses.append(smoothed)
            guard smoothed.isFinite else { break }
            best = min(best, smoothed)
            if stopsOnDivergence && smoothed > 4 * best { break }
        }
        trainer.optimizer.zeroGradients()
        let (suggestion, method) = LearningRateFinder.suggest(learningRates: rates, losses: losses, iterations: steps)
        return Result(learningRates: rates, losses: losses, suggestion: suggestion, method: method)
    }

    /// fastai's choice from a recorded curve: the points from a tenth of the way in to five
    /// before the end (the start is noise, the end divergence), cut at the first non-finite
    /// loss; the rate at the steepest descent, or a tenth of the rate at the minimum when no
    /// segment descends. With fewer than two points left, the whole curve is used.
    public static func suggest(learningRates: [Float], losses: [Float], iterations: Int) -> (Float, Method) {
        let finite = losses.firstIndex { !$0.isFinite } ?? losses.count
        let upper = max(finite - 5, 0)
        var range = min(iterations / 10, upper)..<upper
        if range.count < 2 { range = 0..<finite }
        guard range.count >= 1 else { return (learningRates.first ?? 1e-3, .minimumOverTen) }
        let lrs = Array(learningRates[range]), ls = Array(losses[range])
        let minimum = ls.indices.min { ls[$0] < ls[$1] }!
        var steepest: (index: Int, slope: Float)?
        for i in 0..<(lrs.count - 1) {
            let slope = (ls[i + 1] - ls[i]) / (log(lrs[i + 1]) - log(lrs[i]))
            if slope < (steepest?.slope ?? 0) { steepest = (i, slope) }
        }
        if let steepest { return (lrs[steepest.index], .steepest) }
        return (lrs[minimum] / 10, .minimumOverTen)
    }
}
