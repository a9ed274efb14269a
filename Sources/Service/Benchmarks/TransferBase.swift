import CNN
import Foundation

/// The transfer benchmark's base model: the `fashion-cnn` architecture with five outputs,
/// trained on every training image of Fashion-MNIST classes 0 to 4 (tops, trousers,
/// pullovers, dresses, coats). Training it takes minutes, so it is kept under a folder named
/// by the SHA-256 of its recipe: a changed recipe trains a new one, an unchanged one loads.
public struct TransferBase: Codable, Sendable, Equatable {
    public var architecture: Architecture
    public var classes = Array(0..<5)
    public var epochs = 15
    public var batchSize = 64
    public var learningRate: Float = 3e-3
    public var weightDecay: Float = 1e-4
    public var schedule = Schedule.oneCycle
    public var augment = false
    public var seed: UInt64 = 0

    enum CodingKeys: String, CodingKey {
        case architecture, classes, epochs, batchSize = "batch_size", learningRate = "learning_rate"
        case weightDecay = "weight_decay", schedule, augment, seed
    }

    /// The bundled fashion-cnn architecture with one output per base class.
    public static func fashionCNN() throws -> TransferBase {
        guard let models = SalientService.bundledModels else { throw GraphError(node: "fashion-cnn", "no bundled models") }
        let card = try ModelCard(json: Data(contentsOf: models.appendingPathComponent("fashion-cnn/\(Checkpoint.cardFile)")))
        guard let architecture = card.architecture, let head = architecture.layerNames.last,
              architecture.layers.last?.type == "dense" else {
            throw GraphError(node: card.name, "the fashion-cnn card has no architecture ending in a dense layer")
        }
        var base = TransferBase(architecture: try architecture.replacingHead(head, units: 5))
        base.architecture.name = "fashion-cnn-0-4"
        return base
    }

    /// The recipe's SHA-256, which names its folder.
    public var key: String {
        get throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return Checksum.sha256(try encoder.encode(self))
        }
    }

    public struct Trained {
        public let graph: Graph
        /// On every test image of the base classes.
        public let testAccuracy: Float
        public let seconds: Double
        public let cached: Bool
        public let directory: URL
    }

    /// Loads the base from `cache` or, when it is not there or `rebuild` is set, trains it
    /// and saves it there with its card.
    public func trained(train: LabeledImages, test: LabeledImages, cache: URL, rebuild: Bool,
                        log: (String) -> Void) throws -> Trained {
        let directory = cache.appendingPathComponent("base-\(try key.prefix(16))")
        if !rebuild, FileManager.default.fileExists(atPath: directory.appendingPathComponent(Checkpoint.cardFile).path) {
            let (card, graph, _) = try Checkpoint.load(from: directory)
            return Trained(graph: graph, testAccuracy: Float(card.metrics["test_accuracy"] ?? 0),
                           seconds: card.metrics["training_seconds"] ?? 0, cached: true, directory: directory)
        }
        let started = Date()
        let data = TransferBase.subset(train, classes: classes)
        let graph = try architecture.makeGraph(seed: seed)
        let trainer = Trainer(graph: graph, optimizer: AdamW(groups: [ParameterGroup(name: "all", parameters: graph.parameters)],
                                                             weightDecay: weightDecay), seed: seed)
        // Crops and brightness, no flips: Fashion-MNIST's images share one orientation.
        var augmentation = Augmentation()
        augmentation.flipProbability = 0
        try trainer.fit(data, validation: nil, options: FitOptions(epochs: epochs, batchSize: batchSize, learningRate: learningRate,
                                                                   schedule: schedule, seed: seed),
                        augment: augment ? { augmentation.apply(&$0, &$1) } : nil) { event in
            if case let .epoch(m) = event {
                log(String(format: "base epoch %d/%d: train loss %.4f (%.0f s)", m.epoch, epochs, m.trainLoss,
                           Date().timeIntervalSince(started)))
            }
            return true
        }
        let seconds = Date().timeIntervalSince(started)
        let accuracy = try trainer.evaluate(TransferBase.subset(test, classes: classes)).accuracy
        let card = ModelCard(name: architecture.name, architecture: architecture,
                             labels: classes.map { FashionMNIST.labels[$0] }, preprocessing: .object(["preset": .string("fashion-mnist")]),
                             provenance: ["recipe": try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(self)),
                                          "dataset": .string("fashion-mnist classes \(classes), \(data.count) training images")],
                             metrics: ["test_accuracy": Double(accuracy), "training_seconds": seconds.rounded()], created: Date())
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Checkpoint.save(graph: graph, card: card, to: directory, checksum: Checksum.sha256)
        return Trained(graph: graph, testAccuracy: accuracy, seconds: seconds, cached: false, directory: directory)
    }

    /// The images of `classes`, labelled from 0 in that order.
    static func subset(_ data: LabeledImages, classes: [Int]) -> LabeledImages {
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let picked = data.labels.indices.filter { index[data.labels[$0]] != nil }
        var subset = data.batch(picked)
        subset.labels = subset.labels.map { index[$0]! }
        return subset
    }
}
