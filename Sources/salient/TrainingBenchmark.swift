import CNN
import Foundation
import Service

/// Training throughput in images/s, ours beside PyTorch on the same model, optimizer, batch
/// and Fashion-MNIST images: the batch size over the median step time (forward in training
/// mode, cross-entropy, backward, update).
struct TrainingBenchmark {
    let torch: PythonReference
    /// Timed steps per figure, over consecutive batches.
    let steps: Int
    /// With one thread, the fine-tuning rows time the calling thread's CPU clock on both sides.
    var cpuTime = false
    /// Where `make zoo-models` exports torchvision's models with random weights; a model's
    /// fine-tuning rows are left out when its file is missing.
    var zoo = URL(fileURLWithPath: ".build/torchvision-zoo")
    /// The mobile families' fine-tuning rows: torchvision's name and the title.
    static let fineTuned = [("mobilenet_v2", "MobileNetV2"), ("mobilenet_v3_large", "MobileNetV3-Large"), ("efficientnet_b0", "EfficientNet-B0")]

    static let smallCNN = #"{"name":"bench","input":{"channels":1,"height":28,"width":28},"layers":[{"type":"conv2d","filters":32,"kernel":3,"padding":"same","activation":"relu"},{"type":"maxpool2d","kernel":2},{"type":"conv2d","filters":64,"kernel":3,"padding":"same","activation":"relu"},{"type":"maxpool2d","kernel":2},{"type":"flatten"},{"type":"dense","units":128,"activation":"relu"},{"type":"dense","units":10}]}"#

    func run() throws {
        print("training, images/s                             threads       ours    PyTorch  ours/PyTorch")
        if !torch.isInstalled { print("  " + PythonReference.torchInstallHint) }
        for threads in [1, 2] {
            row("Fashion-MNIST CNN, SGD, batch 64", threads: threads, ours: try smallCNN(threads: threads),
                reference: ["train-small", "\(threads)", "\(steps)"])
        }
        for stage in [1, 2] {
            let title = stage == 1 ? "fine-tune fashion-cnn, head only" : "fine-tune fashion-cnn, all, discriminative"
            for threads in [1, 2] {
                row(title, threads: threads, ours: try fineTuning(stage: stage, threads: threads),
                    reference: ["finetune", "\(stage)", "\(threads)", "\(steps)"])
            }
        }
        for (name, title) in TrainingBenchmark.fineTuned {
            let file = zoo.appendingPathComponent(name).appendingPathComponent("model.onnx")
            guard FileManager.default.fileExists(atPath: file.path) else {
                print("  (\(title) fine-tuning rows need \(file.path): make zoo-models, or scripts/torchvision_zoo.py --only \(name))")
                continue
            }
            for (stage, threads) in [(1, 2), (2, 1), (2, 2)] {
                let cpu = cpuTime && threads == 1
                row("fine-tune \(title) (ONNX), \(stage == 1 ? "head" : "all"), batch 16\(cpu ? ", CPU" : "")", threads: threads,
                    ours: try torchvisionFineTuning(file, stage: stage, threads: threads, batch: 16, clock: cpu ? .threadCPU : .wall),
                    reference: ["finetune-torchvision", name, "\(stage)", "\(threads)", "\(max(steps / 4, 3))", "16", "4"] + (cpu ? ["cpu"] : []))
            }
        }
    }

    /// An imported torchvision model as a `head: classifier` job fine-tunes it for four classes:
    /// stage 1 the new head on the frozen body (BatchNorm on its running statistics), stage 2
    /// every layer group at its rate; inputs x[i] = sin(0.01 i) as on PyTorch's side.
    private func torchvisionFineTuning(_ file: URL, stage: Int, threads: Int, batch: Int, clock: BenchClock) throws -> Double {
        EngineThreads.set(threads)
        let base = try ONNXImporter.load(contentsOf: file)
        var request = JobRequest(baseModel: file.deletingLastPathComponent().lastPathComponent, dataset: "photos", outputModel: "bench")
        request.batchSize = batch
        let tuner = try FineTuner(base: base, labels: ["a", "b", "c", "d"], request: request)
        let trainer = Trainer(graph: tuner.graph, optimizer: AdamW(groups: tuner.parameterGroups(stage: stage), weightDecay: 1e-4))
        let count = batch * 3 * 224 * 224
        let images = LabeledImages(images: Tensor(shape: [batch, 3, 224, 224], scalars: (0..<count).map { Float(sin(0.01 * Double($0))) }),
                                   labels: (0..<batch).map { $0 % 4 })
        let milliseconds = try measure(runs: max(steps / 4, 3), clock: clock) { try trainer.step(images, learningRate: 1e-3) }.median
        return Double(batch) * 1000 / milliseconds
    }

    private func row(_ title: String, threads: Int, ours: Double, reference arguments: [String]) {
        let reference = torch.answer(arguments)?["images_per_s"] as? Double
        let column = reference.map { String(format: "%10.0f %12.2fx", $0, ours / $0) } ?? "  (not installed)"
        print(title.padded(to: 46) + String(format: " %7d %10.0f %@", threads, ours, column))
    }

    /// conv32-pool-conv64-pool-dense128-dense10, SGD with momentum, batch 64.
    private func smallCNN(threads: Int) throws -> Double {
        EngineThreads.set(threads)
        let graph = try Architecture(json: Data(TrainingBenchmark.smallCNN.utf8)).makeGraph()
        let trainer = Trainer(graph: graph, optimizer: SGD(groups: [ParameterGroup(name: "all", parameters: graph.parameters)]))
        return try imagesPerSecond(trainer, batchSize: 64, learningRate: 0.01)
    }

    /// The bundled default model fine-tuned as a job with default settings does it: the head
    /// replaced, AdamW, batch 16; stage 1 trains the head on the frozen body, stage 2 every
    /// layer group at its discriminative rate. Augmentation is left out on both sides.
    private func fineTuning(stage: Int, threads: Int) throws -> Double {
        EngineThreads.set(threads)
        guard let models = SalientService.bundledModels else { throw GraphError(node: "fashion-cnn", "no bundled models") }
        let (card, base, _) = try Checkpoint.load(from: models.appendingPathComponent("fashion-cnn"))
        var request = JobRequest(baseModel: card.name, dataset: "fashion-mnist", outputModel: "bench")
        // PyTorch's side replaces the last layer; with the body frozen, BatchNorm trains as it always did there.
        request.head = .last
        request.frozenBatchNorm = .batch
        let tuner = try FineTuner(base: base, labels: FashionMNIST.labels, request: request)
        let optimizer = AdamW(groups: tuner.parameterGroups(stage: stage), weightDecay: 1e-4)
        return try imagesPerSecond(Trainer(graph: tuner.graph, optimizer: optimizer, seed: request.seed),
                                   batchSize: request.batchSize, learningRate: 1e-3)
    }

    private func imagesPerSecond(_ trainer: Trainer, batchSize: Int, learningRate: Float) throws -> Double {
        let data = try FashionMNIST.load(training: true, limit: batchSize * steps)
        var next = 0
        let milliseconds = try measure(runs: steps) {
            let start = (next % steps) * batchSize
            try trainer.step(data.batch(start..<(start + batchSize)), learningRate: learningRate)
            next += 1
        }.median
        return Double(batchSize) * 1000 / milliseconds
    }
}
