import ArgumentParser
import CNN
import Foundation
import Service

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a native architecture on Fashion-MNIST and save it as a model folder.")

    @Option(help: "The JSON architecture to train.")
    var architecture: String

    @Option(help: "Where to write card.json and weights.safetensors.")
    var output: String

    @Option(help: "The model's name in its card (default: the architecture's).")
    var name: String?

    @Option var epochs = 10
    @Option(name: .customLong("batch-size")) var batchSize = 64
    @Option(name: .customLong("learning-rate")) var learningRate: Float = 3e-3
    @Option(help: "adamw or sgd.") var optimizer = "adamw"
    @Option(name: .customLong("weight-decay")) var weightDecay: Float = 1e-4
    @Option(help: "one_cycle, cosine or constant.") var schedule = "one_cycle"
    @Option var seed: UInt64 = 0
    @Option(help: "Use only the first N training images.") var limit: Int?
    @Option(help: "Engine threads.") var threads = 2

    func run() throws {
        EngineThreads.set(threads)
        guard let schedule = Schedule(rawValue: schedule) else { throw ValidationError("unknown schedule '\(self.schedule)'") }
        let architecture = try Architecture(json: Data(contentsOf: URL(fileURLWithPath: self.architecture)))
        let graph = try architecture.makeGraph(seed: seed)
        let groups = [ParameterGroup(name: "all", parameters: graph.parameters)]
        let optimizer: Optimizer
        switch self.optimizer {
        case "adamw": optimizer = AdamW(groups: groups, weightDecay: weightDecay)
        case "sgd": optimizer = SGD(groups: groups, momentum: 0.9, weightDecay: weightDecay)
        default: throw ValidationError("unknown optimizer '\(self.optimizer)'")
        }
        let train = try FashionMNIST.load(training: true, limit: limit)
        let test = try FashionMNIST.load(training: false)
        let trainer = Trainer(graph: graph, optimizer: optimizer, seed: seed)
        let started = Date()
        var bar = ProgressBar()
        let history = try trainer.fit(train, validation: test, options: FitOptions(
            epochs: epochs, batchSize: batchSize, learningRate: learningRate, schedule: schedule, seed: seed)) { event in
            switch event {
            case let .step(epoch, step, of, loss, _):
                bar.show(label: "epoch \(epoch + 1)/\(epochs)", done: step, total: of, detail: String(format: "loss %.4f", loss))
            case let .epoch(m):
                bar.finish(String(format: "epoch %d: train loss %.4f, test loss %.4f, test accuracy %.4f",
                                  m.epoch, m.trainLoss, m.validationLoss ?? 0, m.validationAccuracy ?? 0))
            }
            return true
        }
        let seconds = Date().timeIntervalSince(started)
        let last = history.last!
        let card = ModelCard(
            name: name ?? architecture.name, architecture: architecture, labels: FashionMNIST.labels,
            preprocessing: .object(["preset": .string("fashion-mnist")]),
            provenance: [
                "command": .string((["salient"] + CommandLine.arguments.dropFirst()).joined(separator: " ")),
                "dataset": .string("fashion-mnist (Debian dataset-fashion-mnist), \(train.count) training images"),
                "epochs": .number(Double(epochs)), "optimizer": .string(self.optimizer),
                "learning_rate": .number(Double(learningRate)), "schedule": .string(schedule.rawValue),
                "seed": .number(Double(seed)),
            ],
            metrics: ["test_accuracy": Double(last.validationAccuracy ?? 0), "test_loss": Double(last.validationLoss ?? 0),
                      "train_loss": Double(last.trainLoss), "training_seconds": seconds.rounded()],
            created: Date())
        try Checkpoint.save(graph: graph, card: card, to: URL(fileURLWithPath: output), checksum: Checksum.sha256)
        print(String(format: "saved %@ (test accuracy %.4f, %.0f s, %.0f images/s)", output, last.validationAccuracy ?? 0,
                     seconds, Double(train.count * epochs) / seconds))
    }
}

/// A one-line progress bar on standard error, redrawn in place.
struct ProgressBar {
    private var lastDraw = Date.distantPast

    mutating func show(label: String, done: Int, total: Int, detail: String) {
        guard done == total || Date().timeIntervalSince(lastDraw) > 0.2 else { return }
        lastDraw = Date()
        let width = 30
        let filled = total > 0 ? width * done / total : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total) \(detail)".utf8))
    }

    func finish(_ line: String) {
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        print(line)
    }
}
