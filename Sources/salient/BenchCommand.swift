import ArgumentParser
import CNN
import Foundation
import HTTPServer
import Imaging
import Service

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure inference, training, decoding and HTTP throughput, beside the references where they are installed.")

    @Option(help: "Time one ONNX model at batch 1 instead of the whole suite.") var onnx: String?
    @Option(help: "Engine threads for --onnx (the suite runs 1 and 2).") var threads = 1
    @Option(help: "Timed runs per figure (after one warm-up).") var runs = 10
    @Flag(help: "With --onnx: print one JSON object.") var json = false
    @Flag(help: "Only the HTTP load check (wrk on a trivial route).") var http = false
    @Flag(help: "Only the transfer-learning benchmark: fine-tuned vs from scratch on 20 images per class.") var transfer = false
    @Flag(help: "Only saliency latency beside PyTorch + Captum.") var saliency = false
    @Flag(help: "Only training throughput beside PyTorch.") var training = false
    @Flag(help: "Only the end-to-end benchmark: salient serve classifying a photo under wrk, batching on and off, and its memory.") var serving = false
    @Option(help: "Folder of the model-zoo graphs.") var zoo = "../shared/data/onnx-light"
    @Option(help: "Python with onnxruntime for the reference column.") var python = ".venv/bin/python"
    @Option(help: "Python with PyTorch, torchvision and Captum (`make bench-venv`).") var torchPython = ".venv-torch/bin/python"

    func run() throws {
        if let onnx {
            let ours = try time(onnx: onnx, threads: threads)
            if json {
                print(#"{"model":"\#(URL(fileURLWithPath: onnx).lastPathComponent)","threads":\#(threads),"median_ms":\#(ours.median),"min_ms":\#(ours.min),"runs":\#(runs)}"#)
            } else {
                print(row(onnx, threads: threads, ours: ours, reference: reference(onnx, threads: threads)))
            }
            return
        }
        if http {
            print(try HTTPBenchmark.run())
            return
        }
        if transfer {
            print(try TransferBenchmark.run())
            return
        }
        if serving {
            print(try ServingBenchmark().run())
            return
        }
        let torch = PythonReference.torch(python: torchPython)
        if saliency {
            try SaliencyBenchmark(torch: torch, runs: runs, zoo: zoo).run()
            return
        }
        if training {
            try TrainingBenchmark(torch: torch, steps: 20).run()
            return
        }
        let kernels = BLASKernels.coreName + (BLASKernels.replacedCoreName.map { " (OpenBLAS chose \($0) for this CPU)" } ?? "")
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; OpenBLAS kernels \(kernels); medians of \(runs) runs; "
              + String(format: "core-to-core round trip %.0f ns\n", CoreRoundTrip.measure()))
        print("inference, batch 1              threads      ours ms  onnxruntime ms    ratio")
        let models = (try? FileManager.default.contentsOfDirectory(atPath: zoo))?.filter { $0.hasSuffix(".onnx") }.sorted() ?? []
        for model in models {
            for threads in [1, 2] {
                let path = "\(zoo)/\(model)"
                print(row(path, threads: threads, ours: try time(onnx: path, threads: threads), reference: reference(path, threads: threads)))
            }
        }
        print(String(format: "core-to-core round trip after the table: %.0f ns", CoreRoundTrip.measure()))
        print("\n" + MemoryReport.header)
        EngineThreads.set(2)
        for model in models { print(try MemoryReport.row(onnx: "\(zoo)/\(model)")) }
        print()
        try SaliencyBenchmark(torch: torch, runs: runs, zoo: zoo).run()
        print()
        try TrainingBenchmark(torch: torch, steps: 20).run()
        print("\nimaging\n" + (try ImagingBenchmark.run()))
        print("\nHTTP (wrk, 64 connections, trivial route)\n  \(try HTTPBenchmark.run())")
        print("\n" + (try ServingBenchmark().run()))
    }

    private func row(_ path: String, threads: Int, ours: (median: Double, min: Double), reference: Double?) -> String {
        let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let ref = reference.map { String(format: "%14.1f %8.2fx", $0, ours.median / $0) } ?? "   (not installed)"
        return name.padded(to: 32) + String(format: " %7d %12.1f %@", threads, ours.median, ref)
    }

    private func time(onnx path: String, threads: Int) throws -> (median: Double, min: Double) {
        EngineThreads.set(threads)
        let graph = try ONNXImporter.load(path: path).optimizedForInference()
        let count = ([1] + graph.inputShape).reduce(1, *)
        let input = Tensor(shape: [1] + graph.inputShape, scalars: (0..<count).map { Float(sin(0.01 * Double($0))) })
        let executor = Executor(graph: graph)
        return try measure(runs: runs) { _ = try executor.infer(input) }
    }

    /// onnxruntime's median through scripts/onnxruntime_bench.py, when the venv has it.
    private func reference(_ path: String, threads: Int) -> Double? {
        PythonReference(python: python, script: "scripts/onnxruntime_bench.py")
            .answer([path, "\(threads)", "\(runs)"])?["median_ms"] as? Double
    }
}
