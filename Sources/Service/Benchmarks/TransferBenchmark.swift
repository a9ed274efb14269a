import CNN
import Foundation

/// Does transfer learning pay on few images? A base model (the fashion-cnn architecture) is
/// trained on Fashion-MNIST classes 0 to 4; then, per seed, it is fine-tuned on a few images
/// per class of classes 5 to 9, and the same architecture is trained from scratch on the
/// same images for as many epochs. Both are tested on every test image of classes 5 to 9.
public struct TransferBenchmark {
    public var seeds: [UInt64]
    /// Training images of classes 0 to 4 the base model sees.
    public var baseImages = 10_000
    public var baseEpochs = 2
    public var shotsPerClass = 20
    /// Epochs of each fine-tuning stage; training from scratch gets both stages' worth.
    public var epochsPerStage = 10
    public var threads = 2
    /// The peak learning rate of both fine-tuning and training from scratch.
    public var learningRate: Float = 3e-3
    /// The fine-tuning request's `freeze`.
    public var freeze = "none"
    public var discriminativeFactor: Float = 3

    public init(seeds: [UInt64] = [0, 1, 2]) {
        self.seeds = seeds
    }

    /// `salient bench --transfer`: the default configuration's report.
    public static func run(seeds: [UInt64] = [0, 1, 2]) throws -> String {
        try TransferBenchmark(seeds: seeds).run().report
    }

    public struct Result: Sendable {
        public var seed: UInt64
        public var transferAccuracy: Float
        public var scratchAccuracy: Float
        public var transferSeconds: Double
        public var scratchSeconds: Double
    }

    public func run() throws -> (results: [Result], report: String) {
        EngineThreads.set(threads)
        let started = Date()
        guard let models = SalientService.bundledModels else { throw GraphError(node: "fashion-cnn", "no bundled models") }
        let card = try ModelCard(json: Data(contentsOf: models.appendingPathComponent("fashion-cnn/\(Checkpoint.cardFile)")))
        guard let architecture = card.architecture, let head = architecture.layerNames.last,
              architecture.layers.last?.type == "dense" else {
            throw GraphError(node: card.name, "the fashion-cnn card has no architecture ending in a dense layer")
        }
        let fiveClasses = try architecture.replacingHead(head, units: 5)
        let train = try FashionMNIST.load(training: true)
        let test = try FashionMNIST.load(training: false)

        let baseIndices = Array(train.labels.indices.filter { train.labels[$0] < 5 }.prefix(baseImages))
        let baseData = train.batch(baseIndices)
        let base = try fiveClasses.makeGraph(seed: 0)
        let baseTrainer = Trainer(graph: base, optimizer: AdamW(groups: [ParameterGroup(name: "all", parameters: base.parameters)],
                                                                 weightDecay: 1e-4))
        try baseTrainer.fit(baseData, validation: nil, options: FitOptions(epochs: baseEpochs, batchSize: 64, learningRate: 3e-3))
        let baseTest = relabeled(test, classes: 0..<5)
        let baseAccuracy = try baseTrainer.evaluate(baseTest).accuracy
        let baseSeconds = Date().timeIntervalSince(started)
        let newTest = relabeled(test, classes: 5..<10)
        let labels = Array(FashionMNIST.labels[5..<10])

        var results: [Result] = []
        for seed in seeds {
            var random = RandomSource(seed: seed)
            let shots = (5..<10).flatMap { c in train.labels.indices.filter { train.labels[$0] == c }.shuffled(using: &random).prefix(shotsPerClass) }
            let fewShot = relabeled(train.batch(shots), classes: 5..<10)

            let t0 = Date()
            let copy = try fiveClasses.makeGraph()
            try copy.load(base.namedTensors)
            var request = JobRequest(baseModel: "fashion-0-4", dataset: "fashion-5-9", outputModel: "transfer")
            request.epochs = epochsPerStage
            request.seed = seed
            request.validationSplit = 0
            request.learningRate = learningRate
            request.freeze = freeze
            request.discriminativeFactor = discriminativeFactor
            let tuner = try FineTuner(base: copy, labels: labels, request: request)
            _ = try tuner.run(train: fewShot, validation: nil, checkpoint: nil) { _ in true }
            let transfer = try Trainer(graph: tuner.graph, optimizer: SGD(groups: [])).evaluate(newTest).accuracy
            let t1 = Date()

            let scratch = try fiveClasses.makeGraph(seed: seed &+ 1)
            let scratchTrainer = Trainer(graph: scratch, optimizer: AdamW(groups: [ParameterGroup(name: "all", parameters: scratch.parameters)],
                                                                          weightDecay: 1e-4), seed: seed)
            let augmentation = Augmentation()
            try scratchTrainer.fit(fewShot, validation: nil, options: FitOptions(
                epochs: 2 * epochsPerStage, batchSize: request.batchSize, learningRate: learningRate, seed: seed),
                augment: { augmentation.apply(&$0, &$1) })
            let fromScratch = try scratchTrainer.evaluate(newTest).accuracy
            results.append(Result(seed: seed, transferAccuracy: transfer, scratchAccuracy: fromScratch,
                                  transferSeconds: t1.timeIntervalSince(t0), scratchSeconds: Date().timeIntervalSince(t1)))
        }

        var lines = [
            "Transfer learning on Fashion-MNIST: base = fashion-cnn architecture trained on classes 0-4 "
                + "(\(baseData.count) images, \(baseEpochs) epochs, \(String(format: "%.0f", baseSeconds)) s, "
                + "test accuracy on classes 0-4 \(String(format: "%.4f", baseAccuracy)))",
            "few-shot task: classes 5-9, \(shotsPerClass) training images per class, tested on \(newTest.count) test images; "
                + "fine-tuning \(epochsPerStage)+\(epochsPerStage) epochs (head, then all with discriminative rates) "
                + "vs from scratch \(2 * epochsPerStage) epochs, both with augmentation",
            "seed  transfer  scratch  transfer s  scratch s",
        ]
        for r in results {
            lines.append(String(format: "%4llu  %8.4f  %7.4f  %10.1f  %9.1f", r.seed, r.transferAccuracy, r.scratchAccuracy,
                                r.transferSeconds, r.scratchSeconds))
        }
        let n = Float(max(results.count, 1))
        lines.append(String(format: "mean  %8.4f  %7.4f", results.map(\.transferAccuracy).reduce(0, +) / n,
                            results.map(\.scratchAccuracy).reduce(0, +) / n))
        lines.append(String(format: "wall time %.0f s", Date().timeIntervalSince(started)))
        return (results, lines.joined(separator: "\n"))
    }

    /// The images of `classes`, labelled from 0.
    private func relabeled(_ data: LabeledImages, classes: Range<Int>) -> LabeledImages {
        let picked = data.labels.indices.filter { classes.contains(data.labels[$0]) }
        var subset = data.batch(picked)
        subset.labels = subset.labels.map { $0 - classes.lowerBound }
        return subset
    }
}
