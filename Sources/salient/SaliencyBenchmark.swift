import CNN
import Foundation

/// Gradient saliency (Simonyan et al.: one class, forward plus backward to the input) at
/// batch 1, ours beside PyTorch with Captum's `Saliency`, on the same architectures: the
/// torchvision modules exported to ONNX, so that both sides run the identical graph.
struct SaliencyBenchmark {
    struct Model {
        let title: String
        /// The name scripts/torch_bench.py knows the torchvision builder by.
        let torchvision: String
        /// The model-zoo graph timed instead when the export is unavailable.
        let zooFile: String
    }

    static let models = [
        Model(title: "ResNet-50", torchvision: "resnet50", zooFile: "light_resnet50.onnx"),
        Model(title: "SqueezeNet 1.0", torchvision: "squeezenet", zooFile: "light_squeezenet.onnx"),
        Model(title: "VGG-19", torchvision: "vgg19", zooFile: "light_vgg19.onnx"),
        Model(title: "DenseNet-121", torchvision: "densenet121", zooFile: "light_densenet121.onnx"),
        Model(title: "GoogLeNet", torchvision: "googlenet", zooFile: "light_inception_v1.onnx"),
    ]
    /// The class explained on both sides.
    static let targetClass = 1

    let torch: PythonReference
    let runs: Int
    let zoo: String
    /// Where the exported graphs are cached (outside git: they are large and reproducible).
    let exports = ".build/bench-models"

    func run() throws {
        print("saliency (gradient, one class), batch 1  threads      ours ms  PyTorch+Captum ms    ratio")
        if !torch.isInstalled { print("  " + PythonReference.torchInstallHint) }
        let exported = torch.answer(["export", exports]) ?? [:]
        for model in SaliencyBenchmark.models {
            var path = "\(exports)/\(model.torchvision).onnx"
            var title = model.title
            if !FileManager.default.fileExists(atPath: path) {
                path = "\(zoo)/\(model.zooFile)"
                let why = (exported[model.torchvision] as? String).map { " (\($0.prefix(60)))" } ?? ""
                title += " [zoo graph \(model.zooFile), not torchvision's\(why)]"
            }
            for threads in [1, 2] {
                let ours = try SaliencyBenchmark.time(path, threads: threads, runs: runs).median
                let reference = torch.answer(["saliency", model.torchvision, "\(threads)", "\(runs)"])?["median_ms"] as? Double
                let column = reference.map { String(format: "%17.1f %8.2fx", $0, ours / $0) } ?? "      (not installed)"
                print(title.padded(to: 40) + String(format: " %7d %12.1f %@", threads, ours, column))
            }
        }
    }

    /// The median and minimum of `compute(method)` on the graph as the service prepares it for
    /// saliency: cut at the pre-softmax scores and optimized for inference.
    static func time(_ path: String, threads: Int, runs: Int, clock: BenchClock = .wall, method: SaliencyMethod = .gradient,
                     options: SaliencyOptions = SaliencyOptions()) throws -> (median: Double, min: Double) {
        EngineThreads.set(threads)
        let loaded = try ONNXImporter.load(path: path)
        let scoreNode = SaliencyComputer(executor: Executor(graph: loaded)).scoreNode
        let graph = try Graph(name: loaded.name, inputName: loaded.inputName, inputShape: loaded.inputShape,
                              nodes: loaded.nodes, outputName: scoreNode).optimizedForInference()
        let computer = SaliencyComputer(executor: Executor(graph: graph))
        let shape = [1] + graph.inputShape
        let input = Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { Float(sin(0.01 * Double($0))) })
        return try measure(runs: runs, clock: clock) {
            _ = try computer.compute(method, input: input, targetClass: SaliencyBenchmark.targetClass, options: options)
        }
    }
}
