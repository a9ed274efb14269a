import ArgumentParser
import CNN
import Foundation
import Imaging
import Service

extension HeadChoice: ExpressibleByArgument {}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a native architecture on Fashion-MNIST, or fine-tune a model on an image folder, and save it as a model folder.")

    @Option(help: "The JSON architecture to train on Fashion-MNIST.")
    var architecture: String?

    @Option(help: "Fine-tune on this ImageFolder folder (one subfolder per class) instead.")
    var dataset: String?

    @Option(name: .customLong("base-model"), help: "The model to fine-tune: a model folder, or the name of a bundled model.")
    var baseModel = "fashion-cnn"

    @Option(help: "With --dataset: body, none, or how many layer groups stay frozen in stage 2.")
    var freeze = "none"

    @Option(name: .customLong("validation-split"), help: "With --dataset: the fraction of each class held out.")
    var validationSplit: Float = 0.2

    @Option(help: "Where to write card.json and weights.safetensors.")
    var output: String

    @Option(help: "The model's name in its card (default: the architecture's).")
    var name: String?

    @Option(help: "Epochs (default 10; with --dataset, 3 per stage).") var epochs: Int?
    @Option(name: .customLong("batch-size"), help: "Batch size (default 64; with --dataset, 16).") var batchSize: Int?
    @Option(name: .customLong("learning-rate"), help: "Peak learning rate (default 0.003; with --dataset, 0.001, or auto for the range test).") var learningRate: String?
    @Option(help: "With --dataset: classifier (a new head at the last spatial feature map) or last (only the final dense layer).") var head = HeadChoice.classifier
    @Option(name: .customLong("head-epochs"), help: "With --dataset: epochs of stage 1, the new head on the frozen body (default: --epochs).") var headEpochs: Int?
    @Option(name: .customLong("head-pooling"), help: "With --dataset: auto, flatten, average or concat.") var headPooling = HeadPooling.auto
    @Option(name: .customLong("head-hidden-units"), help: "With --dataset: the new head's hidden layer (0: none).") var headHiddenUnits: Int?
    @Option(name: .customLong("head-dropout"), help: "With --dataset: the new head's dropout.") var headDropout: Float?
    @Option(name: .customLong("frozen-batchnorm"), help: "With --dataset: running, batch or train.") var frozenBatchNorm: FrozenBatchNorm?
    @Flag(name: .customLong("no-flip"), help: "With --dataset: augment without flipping images left to right.") var noFlip = false
    @Option(help: "adamw or sgd.") var optimizer = "adamw"
    @Option(name: .customLong("weight-decay"), help: "Decay toward zero (with --dataset: under --regularization weight_decay).")
    var weightDecay: Float = 1e-4
    @Option(help: "With --dataset: weight_decay, or l2_sp to pull the base's weights toward their pretrained values.")
    var regularization = Regularization.weightDecay
    @Option(name: .customLong("l2-sp-alpha"), help: "With --regularization l2_sp: the pull toward the pretrained weights (default 0.1).")
    var l2SPAlpha: Float?
    @Option(name: .customLong("l2-sp-beta"), help: "With --regularization l2_sp: the new head's decay toward zero (default 0.01).")
    var l2SPBeta: Float?
    @Option(name: .customLong("label-smoothing"), help: "With --dataset: train toward (1 - e) onehot + e / classes (default 0).")
    var labelSmoothing: Float?
    @Option(help: "With --dataset: mixup's alpha (0: none).") var mixup: Float?
    @Option(help: "one_cycle, cosine or constant.") var schedule = "one_cycle"
    @Option var seed: UInt64 = 0
    @Option(help: "Use only the first N training images.") var limit: Int?
    @Option(help: "Engine threads.") var threads = 2

    func validate() throws {
        guard (architecture == nil) != (dataset == nil) else {
            throw ValidationError("give either --architecture (train on Fashion-MNIST) or --dataset (fine-tune --base-model)")
        }
    }

    func run() throws {
        EngineThreads.set(threads)
        guard let schedule = Schedule(rawValue: schedule) else { throw ValidationError("unknown schedule '\(self.schedule)'") }
        if let dataset { return try fineTune(on: dataset, schedule: schedule) }
        guard let learningRate = self.learningRate.map(Float.init) ?? 3e-3 else {
            throw ValidationError("--learning-rate must be a number when training an architecture")
        }
        let (epochs, batchSize) = (self.epochs ?? 10, self.batchSize ?? 64)
        let architecture = try Architecture(json: Data(contentsOf: URL(fileURLWithPath: self.architecture!)))
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
        let options = FitOptions(epochs: epochs, batchSize: batchSize, learningRate: learningRate, schedule: schedule, seed: seed)
        let history = try trainer.fit(train, validation: test, options: options, report: { event in
            switch event {
            case let .step(epoch, step, of, loss, _):
                bar.show(label: "epoch \(epoch + 1)/\(epochs)", done: step, total: of, detail: String(format: "loss %.4f", loss))
            case let .epoch(m):
                bar.finish(String(format: "epoch %d: train loss %.4f, test loss %.4f, test accuracy %.4f",
                                  m.epoch, m.trainLoss, m.validationLoss ?? 0, m.validationAccuracy ?? 0))
            }
            return true
        })
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

extension Train {
    /// Fine-tunes the base model on an image folder with the job runner's steps; an
    /// interrupted run resumes from `<output>.checkpoint`.
    func fineTune(on folder: String, schedule: Schedule) throws {
        let base = try loadBase()
        let preprocessing = try TransferLearning.preprocessing(of: base.card)
        let data = try ImageFolder(directory: URL(fileURLWithPath: folder), preprocessing: preprocessing)
        guard data.classes.count >= 2 else { throw ValidationError("\(folder) needs at least two class folders with images") }
        var request = JobRequest(baseModel: base.card.name, dataset: folder, outputModel: name ?? "fine-tuned")
        request.epochs = epochs ?? request.epochs
        request.batchSize = batchSize ?? request.batchSize
        if let learningRate {
            guard let setting = learningRate == "auto" ? .auto : Float(learningRate).map(LearningRateSetting.fixed) else {
                throw ValidationError("--learning-rate must be a number or auto")
            }
            request.learningRate = setting
        }
        request.head = head
        request.headEpochs = headEpochs
        request.headPooling = headPooling
        request.headHiddenUnits = headHiddenUnits ?? request.headHiddenUnits
        request.headDropout = headDropout ?? request.headDropout
        request.frozenBatchNorm = frozenBatchNorm ?? request.frozenBatchNorm
        request.horizontalFlip = !noFlip
        request.optimizer = optimizer
        request.regularization = regularization
        request.weightDecay = weightDecay
        request.l2SPAlpha = l2SPAlpha ?? request.l2SPAlpha
        request.l2SPBeta = l2SPBeta ?? request.l2SPBeta
        request.labelSmoothing = labelSmoothing ?? request.labelSmoothing
        request.mixup = mixup ?? request.mixup
        request.schedule = schedule
        request.freeze = freeze
        request.validationSplit = validationSplit
        request.seed = seed
        if let problem = request.problem { throw ValidationError(problem) }
        print("\(data.images.count) images in \(data.classes.count) classes (\(data.classes.joined(separator: ", "))), \(data.skipped) skipped")
        let (train, validation) = TransferLearning.split(data.images, fraction: validationSplit, seed: seed)
        let tuner = try FineTuner(base: base.graph, labels: data.classes, request: request)
        let checkpoint = URL(fileURLWithPath: output + ".checkpoint")
        let started = Date()
        var bar = ProgressBar()
        var printed = Set<String>()
        guard let outcome = try tuner.run(train: train, validation: validation, checkpoint: checkpoint, report: { event in
            switch event {
            case let .progress(p):
                bar.show(label: p.stage == 0 ? "learning-rate range test" : "stage \(p.stage) epoch \(p.epoch)/\(p.epochs)",
                         done: p.step, total: p.steps, detail: "")
            case let .plan(plan):
                if let line = Train.describe(plan, printed: &printed) { bar.finish(line) }
            case let .epoch(m):
                bar.finish(String(format: "stage %d epoch %d: train loss %.4f, validation loss %.4f, validation accuracy %.4f",
                                  m.stage, m.epoch, m.trainLoss, m.validationLoss ?? .nan, m.validationAccuracy ?? .nan))
            case .saving:
                // One process owns this checkpoint: it is always written.
                break
            }
            return true
        }) else { return }
        let seconds = Date().timeIntervalSince(started)
        let command: JSONValue = .string((["salient"] + CommandLine.arguments.dropFirst()).joined(separator: " "))
        let directory = URL(fileURLWithPath: output)
        if base.card.architecture != nil {
            let card = try TransferLearning.card(tuner: tuner, outcome: outcome, base: base.card, dataset: folder, seconds: seconds,
                                                 provenance: ["command": command])
            try Checkpoint.save(graph: tuner.graph, card: card, to: directory, checksum: Checksum.sha256)
        } else {
            // An imported model is saved as ONNX, as the job runner registers it.
            let card = try TransferLearning.onnxCard(tuner: tuner, outcome: outcome, base: base.card, dataset: folder, seconds: seconds,
                                                     provenance: ["command": command])
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try AtomicFile.write(ONNXExporter.export(tuner.graph), to: directory.appendingPathComponent(card.onnxFile!))
            try AtomicFile.write(card.jsonData(), to: directory.appendingPathComponent(Checkpoint.cardFile))
        }
        try? FileManager.default.removeItem(at: checkpoint)
        if let report = outcome.report {
            for c in report.perClass { print(String(format: "%@: precision %.3f, recall %.3f", c.label, c.precision, c.recall)) }
        }
        print(String(format: "saved %@ (validation accuracy %.4f, %.0f s)", output, outcome.validationAccuracy ?? .nan, seconds))
    }

    /// Layer names for a line: all of a few, the count and the ends of many (the job lists them all).
    static func names(_ names: [String]) -> String {
        names.count <= 6 ? "[\(names.joined(separator: ", "))]" : "\(names.count) layers [\(names[0]) ... \(names[names.count - 1])]"
    }

    /// A line for what is new in the plan: the cut, the rate the range test found, a stage's
    /// frozen and trained layers; nil when nothing is.
    static func describe(_ plan: TransferPlan, printed: inout Set<String>) -> String? {
        var lines: [String] = []
        if printed.insert("head").inserted {
            lines.append(plan.cutAt.map { "head: classifier, cut at '\($0)' (replaced \(Train.names(plan.replaced))); new head \(Train.names(plan.newHead))" }
                ?? "head: last, '\(plan.newHead.joined())' re-initialized")
        }
        if let finder = plan.learningRateFinder, printed.insert("finder").inserted {
            lines.append(String(format: "learning rate %.2g (range test, %@)", finder.suggestion, finder.method.rawValue))
        }
        for stage in plan.stages where printed.insert("stage\(stage.stage)").inserted {
            let rates = stage.learningRates.sorted { $0.key < $1.key }.map { String(format: "%@ %.2g", $0.key, $0.value) }
            lines.append("stage \(stage.stage): frozen \(Train.names(stage.frozen)), trained \(Train.names(stage.trained)), "
                + "peak rates \(rates.joined(separator: ", "))")
        }
        if let best = plan.best, printed.insert("best").inserted {
            lines.append(String(format: "kept stage %d epoch %d (validation accuracy %.4f)", best.stage, best.epoch, best.validationAccuracy))
        }
        return lines.isEmpty ? nil : lines.joined(separator: "\n")
    }

    /// A model folder (native or ONNX), an ONNX file (ImageNet preprocessing, labels
    /// numbered), or a bundled model's name.
    private func loadBase() throws -> (card: ModelCard, graph: Graph) {
        var isDirectory: ObjCBool = false
        let url = URL(fileURLWithPath: baseModel)
        if baseModel.hasSuffix(".onnx"), FileManager.default.fileExists(atPath: baseModel) {
            let graph = try ONNXImporter.load(contentsOf: url)
            let classes = try graph.shapes(batch: 1)[graph.outputName]?.last ?? 0
            let card = ModelCard(name: url.deletingPathExtension().lastPathComponent, architecture: nil, onnxFile: url.lastPathComponent,
                                 labels: (0..<classes).map { "class \($0)" }, preprocessing: .object(["preset": .string("imagenet")]),
                                 provenance: ["source": .string(url.path)], metrics: [:], created: Date())
            return (card, graph)
        }
        let folder: URL
        if FileManager.default.fileExists(atPath: baseModel, isDirectory: &isDirectory), isDirectory.boolValue {
            folder = url
        } else if let bundled = SalientService.bundledModels?.appendingPathComponent(baseModel),
                  FileManager.default.fileExists(atPath: bundled.path) {
            folder = bundled
        } else {
            throw ValidationError("--base-model \(baseModel) is neither a model folder, an ONNX file nor a bundled model")
        }
        let card = try ModelCard(json: Data(contentsOf: folder.appendingPathComponent(Checkpoint.cardFile)))
        if let onnx = card.onnxFile {
            return (card, try ONNXImporter.load(contentsOf: folder.appendingPathComponent(onnx)))
        }
        let loaded = try Checkpoint.load(from: folder)
        return (loaded.card, loaded.graph)
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
