import CNN
import Foundation

/// One way of learning the few-shot task.
public enum TransferArm: String, Codable, Sendable, CaseIterable {
    /// `head: classifier`, both stages: the new head on the frozen body, then everything at discriminative rates.
    case transfer
    /// Stage 1 alone: the new head on the frozen body (a probe of the base's features).
    case probe
    /// `head: last`, both stages: only the final dense layer replaced.
    case last
    /// The same architecture from random weights, every layer at one rate.
    case scratch
}

/// Does transfer learning pay on few images? `salient bench --transfer`.
///
/// The base (`TransferBase`) knows Fashion-MNIST classes 0 to 4; the task is classes 5 to 9
/// (sandal, shirt, sneaker, bag, ankle boot) from a few training images per class. For every
/// shot count and seed, each arm learns from the same images, with the same augmentation and
/// the same number of steps. Each arm's learning rate is chosen per seed on a validation split
/// drawn from the training shots (stratified, a fifth), from `learningRates`, or by the range
/// test when `learningRates` is empty; the arm then trains on all the shots at that rate and
/// is tested on every test image of classes 5 to 9. The test set is never used to choose
/// anything. With `development` set, the same runs are scored on a development set drawn
/// from the other training images of classes 5 to 9 instead, which is how the recipe's
/// choices are measured without touching the test set.
public struct TransferBenchmark: Sendable {
    public var shots = [5, 10, 20, 50]
    public var seeds: [UInt64] = [0, 1, 2, 3, 4]
    public var arms = TransferArm.allCases
    public var base: TransferBase
    /// Where the trained base is kept.
    public var cache: URL
    public var rebuildsBase = false
    public var threads = 2
    public var batchSize = 16
    /// Training steps of every arm at each shot count (a shot count not listed: its nearest lower one's).
    public var steps: [Int: Int] = [5: 120, 10: 160, 20: 200, 50: 300]
    /// The share of a two-stage arm's steps spent in stage 1.
    public var headShare: Float = 0.25
    /// The candidates for each arm's peak learning rate; empty: the range test picks it.
    public var learningRates: [Float] = [3e-4, 1e-3, 3e-3, 1e-2]
    public var validationFraction: Float = 0.2
    public var head = HeadDesign(pooling: .auto, hiddenUnits: 0, dropout: 0)
    public var frozenBatchNorm = FrozenBatchNorm.running
    public var discriminativeFactor: Float = 3
    /// The fine-tuning arms' regularization (scratch keeps AdamW's decay toward zero: it has no starting point).
    public var regularization = Regularization.weightDecay
    public var l2SPAlpha: Float = 0.1
    public var l2SPBeta: Float = 0.01
    /// The fine-tuning arms' label smoothing.
    public var labelSmoothing: Float = 0
    /// The fine-tuning arms' mixup α (0: none).
    public var mixup: Float = 0
    public var augment = true
    /// The augmentation every arm applies when `augment` is set: crops and brightness, no flips
    /// (Fashion-MNIST's shoes all point left, so a flipped shot is an image the test never shows;
    /// flips cost every arm 3 to 5 points on the development set).
    public var augmentation: Augmentation = {
        var augmentation = Augmentation()
        augmentation.flipProbability = 0
        return augmentation
    }()
    /// Every BatchNorm normalizes by its running statistics in every stage of the fine-tuning arms.
    public var keepsRunningStatistics = false
    /// Scratch trains the transfer arm's architecture (body and new head) instead of the base's.
    public var scratchWithNewHead = false
    /// Score on a development set of this many training images per class (none of them a shot)
    /// instead of the test set; nil: the test set.
    public var development: Int?
    /// At most this many test (or development) images; nil: all.
    public var evaluationLimit: Int?

    public init(base: TransferBase, cache: URL) {
        self.base = base
        self.cache = cache
    }

    /// Mean and sample standard deviation.
    public struct Statistic: Codable, Sendable, Equatable {
        public var mean: Float
        public var std: Float

        init(_ values: [Float]) {
            let n = Float(values.count)
            let average = values.reduce(0, +) / max(n, 1)
            let squares = values.map { ($0 - average) * ($0 - average) }.reduce(0, +)
            mean = average
            std = values.count > 1 ? (squares / (n - 1)).squareRoot() : 0
        }
    }

    /// One arm's runs at one shot count.
    public struct ArmRuns: Sendable {
        public var accuracies: [Float] = []
        public var learningRates: [Float] = []
        public var seconds: Double = 0
        public var statistic: Statistic { Statistic(accuracies) }
    }

    public struct Result: Sendable {
        public var baseAccuracy: Float
        public var baseSeconds: Double
        public var baseCached: Bool
        public var evaluatedOn: String
        public var runs: [Int: [TransferArm: ArmRuns]]
        public var seconds: Double

        /// `{"shots": {"5": {"transfer": {"mean": m, "std": s}, ...}, ...}}`.
        public var json: String {
            get throws {
                var shots: [String: [String: Statistic]] = [:]
                for (count, arms) in runs {
                    shots["\(count)"] = Dictionary(uniqueKeysWithValues: arms.map { ($0.key.rawValue, $0.value.statistic) })
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                return String(decoding: try encoder.encode(["shots": shots]), as: UTF8.self)
            }
        }
    }

    /// The table of mean ± standard deviation per arm and shot count, with what was run.
    public func report(_ result: Result) -> String {
        let arms = self.arms
        var lines = [
            String(format: "Transfer learning on Fashion-MNIST: base = %@ trained on every training image of classes 0-4 "
                   + "(%d epochs, batch %d, AdamW %.0e %@%@; %@), test accuracy on classes 0-4 %.4f",
                   base.architecture.name, base.epochs, base.batchSize, base.learningRate, base.schedule.rawValue,
                   base.augment ? ", augmented" : "", result.baseCached ? "cached" : String(format: "trained in %.0f s", result.baseSeconds),
                   result.baseAccuracy),
            "task: classes 5-9 from \(shots.map(String.init).joined(separator: "/")) images per class, seeds \(seeds.map(String.init).joined(separator: ",")); "
                + "scored on \(result.evaluatedOn)",
            "every arm: the same shots, " + (augment ? String(format: "the same augmentation (random resized crop of %.0f-100%% of the area, "
                + "flip with probability %.1f, brightness ±%.2f)", augmentation.minimumScale * 100, augmentation.flipProbability,
                augmentation.brightness) : "no augmentation")
                + ", batch \(batchSize), " + shots.map { "\(stepCount(shots: $0)) steps at \($0)" }.joined(separator: ", ")
                + String(format: "; two-stage arms spend %.0f%% of them on the head", headShare * 100),
            "learning rates: " + (learningRates.isEmpty ? "the range test's (steepest descent)"
                : "per arm and shot count, the best of \(learningRates.map { String(format: "%.0e", $0) }.joined(separator: ", ")) "
                  + String(format: "by the mean over the seeds of each one's validation split (%.0f%% of its shots, trained on the rest)",
                           validationFraction * 100)),
            "head: \(head.pooling.rawValue) pooling, \(head.hiddenUnits) hidden units, dropout \(head.dropout); frozen BatchNorm: "
                + frozenBatchNorm.rawValue + (keepsRunningStatistics ? " (every BatchNorm on running statistics)" : "")
                + "; fine-tuning regularization: " + (regularization == .l2SP
                    ? String(format: "L2-SP, alpha %g toward the base's weights, beta %g on the new head", l2SPAlpha, l2SPBeta)
                    : "weight decay 1e-4") + (labelSmoothing > 0 ? String(format: ", label smoothing %g", labelSmoothing) : "")
                + (mixup > 0 ? String(format: ", mixup alpha %g", mixup) : "")
                + "; scratch: " + (scratchWithNewHead ? "body and new head" : base.architecture.name),
            "",
            "shots  " + arms.map { $0.rawValue.padding(toLength: 17, withPad: " ", startingAt: 0) }.joined() + "transfer - scratch",
        ]
        for count in shots {
            guard let runs = result.runs[count] else { continue }
            var line = String(format: "%5d  ", count)
            for arm in arms {
                let s = runs[arm]?.statistic ?? Statistic([])
                line += String(format: "%.4f ± %.4f  ", s.mean, s.std)
            }
            if let t = runs[.transfer]?.statistic, let c = runs[.scratch]?.statistic {
                line += String(format: "%+.4f", t.mean - c.mean)
            }
            lines.append(line)
        }
        lines.append("")
        lines.append("learning rates chosen (one per seed) and seconds per arm:")
        for count in shots {
            guard let runs = result.runs[count] else { continue }
            lines.append(String(format: "%5d  ", count) + arms.map { arm in
                let r = runs[arm] ?? ArmRuns()
                let rates = Set(r.learningRates).count == 1 ? [r.learningRates[0]] : r.learningRates
                return "\(arm.rawValue) " + rates.map { String(format: "%.0e", $0) }.joined(separator: ",")
                    + String(format: " (%.0f s)", r.seconds)
            }.joined(separator: "  "))
        }
        lines.append(String(format: "wall time %.0f s", result.seconds))
        return lines.joined(separator: "\n")
    }

    func stepCount(shots: Int) -> Int {
        steps.filter { $0.key <= shots }.max { $0.key < $1.key }?.value ?? steps.values.min() ?? 100
    }

    public func run(log: (String) -> Void = { _ in }) throws -> Result {
        EngineThreads.set(threads)
        let started = Date()
        let train = try FashionMNIST.load(training: true)
        let test = try FashionMNIST.load(training: false)
        let trained = try base.trained(train: train, test: test, cache: cache, rebuild: rebuildsBase, log: log)
        log(String(format: "base: %@ (%@), test accuracy on classes 0-4 %.4f", trained.directory.path,
                   trained.cached ? "cached" : String(format: "trained in %.0f s", trained.seconds), trained.testAccuracy))
        let newClasses = Array(5..<10)
        // Every seed's shots come from the first 100 training images of each class in its own
        // order; a development set comes from the others.
        var pool: [Int: [Int]] = [:]
        for (index, label) in train.labels.enumerated() where newClasses.contains(label) { pool[label, default: []].append(index) }
        let evaluation: LabeledImages
        if let development {
            evaluation = TransferBase.subset(train.batch(newClasses.flatMap { Array(pool[$0]!.dropFirst(100).prefix(development)) }),
                                             classes: newClasses)
        } else {
            evaluation = TransferBase.subset(test, classes: newClasses)
        }
        let scored = evaluationLimit.map { evaluation.batch(0..<min($0, evaluation.count)) } ?? evaluation
        var runs: [Int: [TransferArm: ArmRuns]] = [:]
        let weights = trained.graph.namedTensors
        for count in shots {
            let episodes = seeds.map { seed -> LabeledImages in
                var random = RandomSource(seed: seed)
                let picked = newClasses.flatMap { Array(pool[$0]!.prefix(100).shuffled(using: &random).prefix(count)) }
                return TransferBase.subset(train.batch(picked), classes: newClasses)
            }
            for arm in arms {
                let t0 = Date()
                let chosen = try chooseLearningRate(arm, episodes: episodes, shots: count, base: weights)
                for (seed, episode) in zip(seeds, episodes) {
                    let rate = try chosen ?? learningRateFinder(arm, on: episode, seed: seed, base: weights)
                    let graph = try self.train(arm, on: episode, shots: count, learningRate: rate, seed: seed, base: weights)
                    let accuracy = try Trainer(graph: graph, optimizer: SGD(groups: [])).evaluate(scored).accuracy
                    runs[count, default: [:]][arm, default: ArmRuns()].accuracies.append(accuracy)
                    runs[count, default: [:]][arm, default: ArmRuns()].learningRates.append(rate)
                    log(String(format: "%2d shots, seed %llu, %@: learning rate %.2g, accuracy %.4f", count, seed, arm.rawValue, rate, accuracy))
                }
                runs[count, default: [:]][arm, default: ArmRuns()].seconds = Date().timeIntervalSince(t0)
            }
        }
        return Result(baseAccuracy: trained.testAccuracy, baseSeconds: trained.seconds, baseCached: trained.cached,
                      evaluatedOn: development.map { "a development set of \($0) other training images per class" }
                          ?? "\(scored.count) test images of classes 5-9",
                      runs: runs, seconds: Date().timeIntervalSince(started))
    }

    /// The arm's peak rate at this shot count: the candidate with the best mean score (accuracy,
    /// then loss) over every seed's validation split after training on the rest of its shots;
    /// nil when the range test picks each run's rate. One validation image per class (at five
    /// shots) gives each seed only a few distinct scores, so the seeds' splits are pooled: the
    /// rate belongs to the recipe at that shot count, as a user would settle it once.
    func chooseLearningRate(_ arm: TransferArm, episodes: [LabeledImages], shots: Int, base: [String: Tensor]) throws -> Float? {
        guard !learningRates.isEmpty else { return nil }
        guard learningRates.count > 1 else { return learningRates[0] }
        var best: (rate: Float, accuracy: Float, loss: Float)?
        for rate in learningRates {
            var accuracy: Float = 0, loss: Float = 0
            for (seed, episode) in zip(seeds, episodes) {
                let (train, validation) = TransferLearning.split(episode, fraction: validationFraction, seed: seed &+ 1000)
                guard let validation else { continue }
                let graph = try self.train(arm, on: train, shots: shots, learningRate: rate, seed: seed, base: base)
                let result = try Trainer(graph: graph, optimizer: SGD(groups: [])).evaluate(validation)
                accuracy += result.accuracy / Float(episodes.count)
                loss += result.loss / Float(episodes.count)
            }
            if FineTuner.improves(accuracy: accuracy, loss: loss, over: best.map { ($0.accuracy, $0.loss) }) {
                best = (rate, accuracy, loss)
            }
        }
        return best!.rate
    }

    /// The job request an arm fine-tunes with.
    func request(_ arm: TransferArm, examples: Int, shots: Int, learningRate: LearningRateSetting, seed: UInt64) -> JobRequest {
        var request = JobRequest(baseModel: "fashion-cnn-0-4", dataset: "fashion-5-9", outputModel: arm.rawValue)
        let batch = min(batchSize, examples)
        let perEpoch = max(examples / batch, 1)
        let epochs = max((stepCount(shots: shots) + perEpoch - 1) / perEpoch, 2)
        let headEpochs = min(max(Int((Float(epochs) * headShare).rounded()), 1), epochs - 1)
        request.batchSize = batch
        request.learningRate = learningRate
        request.seed = seed
        request.validationSplit = 0
        request.earlyStoppingPatience = 0
        request.augment = augment
        request.head = arm == .last ? .last : .classifier
        request.headPooling = head.pooling
        request.headHiddenUnits = head.hiddenUnits
        request.headDropout = head.dropout
        request.frozenBatchNorm = frozenBatchNorm
        request.discriminativeFactor = discriminativeFactor
        request.regularization = regularization
        (request.l2SPAlpha, request.l2SPBeta) = (l2SPAlpha, l2SPBeta)
        request.labelSmoothing = labelSmoothing
        request.mixup = mixup
        if arm == .probe {
            request.freeze = "body"
            (request.headEpochs, request.epochs) = (epochs, epochs)
        } else {
            (request.headEpochs, request.epochs) = (headEpochs, epochs - headEpochs)
        }
        return request
    }

    /// A fresh base graph holding `weights`.
    func baseGraph(_ weights: [String: Tensor]) throws -> Graph {
        let graph = try self.base.architecture.makeGraph()
        try graph.load(weights)
        return graph
    }

    /// Trains one arm on `data` and returns its graph.
    func train(_ arm: TransferArm, on data: LabeledImages, shots: Int, learningRate: Float, seed: UInt64, base: [String: Tensor]) throws -> Graph {
        let labels = Array(FashionMNIST.labels[5..<10])
        let request = self.request(arm, examples: data.count, shots: shots, learningRate: .fixed(learningRate), seed: seed)
        guard arm == .scratch else {
            let tuner = try FineTuner(base: try baseGraph(base), labels: labels, request: request)
            tuner.augmentation = augmentation
            tuner.keepsRunningStatistics = keepsRunningStatistics
            _ = try tuner.run(train: data, validation: nil, checkpoint: nil) { _ in true }
            return tuner.graph
        }
        var graph = try self.base.architecture.makeGraph(seed: seed &+ 1)
        if scratchWithNewHead {
            graph = try HeadReplacement.replacing(of: graph, classes: labels.count, choice: .classifier, design: head, seed: seed).graph
        }
        let trainer = Trainer(graph: graph, optimizer: AdamW(groups: [ParameterGroup(name: "all", parameters: graph.parameters)],
                                                             weightDecay: 1e-4), seed: seed)
        let augmentation = self.augmentation
        let epochs = (request.headEpochs ?? request.epochs) + (request.freeze == "body" ? 0 : request.epochs)
        try trainer.fit(data, validation: nil, options: FitOptions(epochs: epochs, batchSize: request.batchSize,
                                                                   learningRate: learningRate, seed: seed),
                        augment: augment ? { augmentation.apply(&$0, &$1) } : nil)
        return graph
    }

    /// The range test's rate for an arm: on stage 1's groups for the fine-tuning arms, on every
    /// layer for scratch.
    func learningRateFinder(_ arm: TransferArm, on data: LabeledImages, seed: UInt64, base: [String: Tensor]) throws -> Float {
        let labels = Array(FashionMNIST.labels[5..<10])
        let augmentation = self.augmentation
        let graph: Graph
        let groups: [ParameterGroup]
        if arm == .scratch {
            graph = try self.base.architecture.makeGraph(seed: seed &+ 1)
            groups = [ParameterGroup(name: "all", parameters: graph.parameters)]
        } else {
            let tuner = try FineTuner(base: try baseGraph(base), labels: labels,
                                      request: request(arm, examples: data.count, shots: 0, learningRate: .auto, seed: seed))
            graph = tuner.graph
            groups = tuner.parameterGroups(stage: 1)
        }
        let trainer = Trainer(graph: graph, optimizer: AdamW(groups: groups, weightDecay: 1e-4), seed: seed)
        return try LearningRateFinder().run(trainer, on: data, batchSize: min(batchSize, data.count), seed: seed,
                                            augment: augment ? { augmentation.apply(&$0, &$1) } : nil).suggestion
    }
}
