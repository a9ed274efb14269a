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
    @Flag(help: "With --onnx or --transfer: print one JSON object.") var json = false
    @Flag(help: "With --onnx: time every node, and print the slowest with their rates, and the totals by kind (with --json: every node in graph order, to pair with another engine's profile).") var profile = false
    @Option(help: "Images per inference for --onnx; the text output then also gives the time per image.") var batch = 1
    @Flag(help: "With --onnx and one thread: time the calling thread's CPU clock instead of the wall clock on both sides, to compare on a busy machine (onnxruntime runs a single-thread session on its calling thread).") var cpuTime = false
    @Flag(help: "Only the HTTP load check (wrk on a trivial route).") var http = false
    @Flag(help: "Only the transfer-learning benchmark: fine-tuning, a linear probe, the last layer only and training from scratch on 5 to 50 images per class of Fashion-MNIST 5-9, from a base trained on 0-4 (with --json: {\"shots\": ...}, the table on standard error).") var transfer = false
    @OptionGroup var transferOptions: TransferBenchmarkOptions
    @Flag(help: "Only saliency latency beside PyTorch + Captum; with --onnx, time that model's saliency (--method) instead of its inference.") var saliency = false
    @Option(help: "With --onnx --saliency: the method timed (gradient, smoothgrad, integrated_gradients, gradcam, guided_backprop).") var method = SaliencyMethod.gradient
    @Option(help: "With --onnx --saliency: integrated-gradients steps or SmoothGrad samples (the method's default when absent).") var steps: Int?
    @Option(name: .customLong("saliency-batch"), help: "With --onnx --saliency: steps or samples per forward and backward pass.") var saliencyBatch = SaliencyOptions().batchSize
    @Flag(help: "Only training throughput beside PyTorch.") var training = false
    @Flag(help: "Only the memory of one planned inference of each zoo model.") var memory = false
    @Flag(help: "Only decoding, preprocessing and saliency rendering of a large photo.") var imaging = false
    @Flag(help: "Only the end-to-end benchmark: salient serve classifying a photo under wrk, batching on and off, and its memory.") var serving = false
    @Flag(help: "Only the soak: rounds of classification at 64 connections and SmoothGrad at 8 on one salient serve, its resident memory after each.") var soak = false
    @Option(help: "Rounds of --soak.") var rounds = 10
    @Option(name: .customLong("round-seconds"), help: "Seconds of classification in each --soak round (SmoothGrad runs half as long).") var roundSeconds = 20
    @Option(help: "Folder of the model-zoo graphs.") var zoo = "../shared/data/onnx-light"
    @Option(help: "Python with onnxruntime for the reference column.") var python = ".venv/bin/python"
    @Option(help: "Python with PyTorch, torchvision and Captum (`make bench-venv`).") var torchPython = ".venv-torch/bin/python"

    func run() throws {
        if let onnx, profile {
            print(try profile(onnx: onnx, threads: threads, batch: batch))
            return
        }
        if let onnx, saliency {
            var options = SaliencyOptions()
            options.steps = steps
            options.batchSize = saliencyBatch
            let ours = try SaliencyBenchmark.time(onnx, threads: threads, runs: runs, clock: cpuTime ? .threadCPU : .wall,
                                                  method: method, options: options)
            if json {
                print(#"{"model":"\#(URL(fileURLWithPath: onnx).lastPathComponent)","threads":\#(threads),"saliency":"\#(method.rawValue)","steps":\#(steps ?? method.defaultSteps ?? 1),"batch":\#(saliencyBatch),"median_ms":\#(ours.median),"min_ms":\#(ours.min),"runs":\#(runs)}"#)
            } else {
                print(URL(fileURLWithPath: onnx).deletingPathExtension().lastPathComponent.padded(to: 32)
                      + String(format: " %7d %12.1f  (%@ saliency, ms)", threads, ours.median, method.rawValue))
            }
            return
        }
        if let onnx {
            let ours = try time(onnx: onnx, threads: threads, batch: batch)
            if json {
                print(#"{"model":"\#(URL(fileURLWithPath: onnx).lastPathComponent)","threads":\#(threads),"batch":\#(batch),"median_ms":\#(ours.median),"min_ms":\#(ours.min),"runs":\#(runs)}"#)
            } else if batch > 1 {
                print(try batchBeside(onnx: onnx, threads: threads, batch: batch))
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
            let benchmark = try transferOptions.benchmark()
            let log = { (line: String) in FileHandle.standardError.write(Data((line + "\n").utf8)) }
            let result = try benchmark.run(log: log)
            // With --json the table still ends the log, so one run gives both.
            if json { log(benchmark.report(result)) }
            print(json ? try result.json : benchmark.report(result))
            return
        }
        if serving {
            print(try ServingBenchmark().run())
            return
        }
        if soak {
            // Prints each round as it ends.
            _ = try SoakBenchmark(rounds: rounds, classifySeconds: roundSeconds, saliencySeconds: max(roundSeconds / 2, 1)).run()
            return
        }
        if imaging {
            print(try ImagingBenchmark.run())
            return
        }
        let models = (try? FileManager.default.contentsOfDirectory(atPath: zoo))?.filter { $0.hasSuffix(".onnx") }.sorted() ?? []
        if memory {
            try printMemory(models)
            return
        }
        let torch = PythonReference.torch(python: torchPython)
        if saliency {
            try SaliencyBenchmark(torch: torch, runs: runs, zoo: zoo).run()
            return
        }
        if training {
            try TrainingBenchmark(torch: torch, steps: 20, cpuTime: cpuTime).run()
            return
        }
        let kernels = BLASKernels.coreName + (BLASKernels.replacedCoreName.map { " (OpenBLAS chose \($0) for this CPU)" } ?? "")
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; OpenBLAS kernels \(kernels); medians of \(runs) runs; "
              + String(format: "core-to-core round trip %.0f ns\n", CoreRoundTrip.measure()))
        print("inference, batch 1              threads      ours ms  onnxruntime ms    ratio  difference")
        for model in models {
            for threads in [1, 2] {
                let path = "\(zoo)/\(model)"
                print(row(path, threads: threads, ours: try time(onnx: path, threads: threads), reference: reference(path, threads: threads)))
            }
        }
        print(String(format: "core-to-core round trip after the table: %.0f ns", CoreRoundTrip.measure()))
        print()
        try printMemory(models)
        print()
        try SaliencyBenchmark(torch: torch, runs: runs, zoo: zoo).run()
        print()
        try TrainingBenchmark(torch: torch, steps: 20, cpuTime: cpuTime).run()
        print("\nimaging\n" + (try ImagingBenchmark.run()))
        print("\nHTTP (wrk, 64 connections, trivial route)\n  \(try HTTPBenchmark.run())")
        print("\n" + (try ServingBenchmark().run()))
    }

    private func printMemory(_ models: [String]) throws {
        print(MemoryReport.header)
        EngineThreads.set(2)
        for model in models { print(try MemoryReport.row(onnx: "\(zoo)/\(model)")) }
    }

    /// A row of the inference table; the last column is the largest difference between our
    /// output and onnxruntime's, relative to the largest of theirs.
    private func row(_ path: String, threads: Int, ours: Timing, reference: (median: Double, output: [Double])?) -> String {
        let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        var ref = "   (not installed)"
        if let reference {
            let scale = reference.output.map(abs).max() ?? 1
            let difference = reference.output.count == ours.output.count
                ? zip(ours.output, reference.output).map { abs(Double($0) - $1) }.max().map { $0 / Swift.max(scale, 1e-30) } : nil
            ref = String(format: "%14.1f %8.2fx  %@", reference.median, ours.median / reference.median,
                         difference.map { String(format: "%.1e", $0) } ?? "shape differs")
        }
        return name.padded(to: 32) + String(format: " %7d %12.1f %@", threads, ours.median, ref)
    }

    /// Our median and minimum time, and the output of the last run.
    struct Timing {
        let median: Double
        let min: Double
        let output: [Float]
    }

    private func time(onnx path: String, threads: Int, batch: Int = 1) throws -> Timing {
        let (executor, input) = try prepare(onnx: path, threads: threads, batch: batch)
        var output = Tensor(zeros: [0])
        let times = try measure(runs: runs, clock: cpuTime ? .threadCPU : .wall) { output = try executor.infer(input) }
        return Timing(median: times.median, min: times.min, output: output.scalars)
    }

    /// A batch beside its images one at a time, timed in turn, per image.
    private func batchBeside(onnx path: String, threads: Int, batch: Int) throws -> String {
        let (executor, input) = try prepare(onnx: path, threads: threads, batch: batch)
        let single = Tensor(shape: [1] + input.shape.dropFirst(), scalars: Array(input.scalars[..<(input.count / batch)]))
        let times = try measureInTurn(runs: runs, [
            { _ = try executor.infer(input) },
            { for _ in 0..<batch { _ = try executor.infer(single) } },
        ]).map { ($0.median / Double(batch), $0.min / Double(batch)) }
        return String(format: "%@, %d threads, ms per image: batch of %d %.2f (min %.2f), one at a time %.2f (min %.2f), ratio %.2f",
                      URL(fileURLWithPath: path).lastPathComponent, threads, batch, times[0].0, times[0].1,
                      times[1].0, times[1].1, times[0].0 / times[1].0)
    }

    /// The model as the service runs it, and `batch` copies of the input x[i] = sin(0.01 i).
    private func prepare(onnx path: String, threads: Int, batch: Int) throws -> (Executor, Tensor) {
        EngineThreads.set(threads)
        let graph = try ONNXImporter.load(path: path).optimizedForInference()
        let image = (0..<graph.inputShape.reduce(1, *)).map { Float(sin(0.01 * Double($0))) }
        let input = Tensor(shape: [batch] + graph.inputShape, scalars: Array((0..<batch).map { _ in image }.joined()))
        return (Executor(graph: graph), input)
    }

    /// Each node's median time over `runs` inferences, slowest first, with its share of the
    /// whole and its rate; then the totals by operator kind.
    private func profile(onnx path: String, threads: Int, batch: Int) throws -> String {
        let (executor, input) = try prepare(onnx: path, threads: threads, batch: batch)
        _ = try measure(runs: 1) { _ = try executor.infer(input) }
        let nodes = try executor.profile(input, runs: runs)
        let macs = Dictionary(uniqueKeysWithValues: try ModelAnalysis(graph: executor.graph).layers.map { ($0.name, batch * $0.macs) })
        let total = nodes.reduce(0) { $0 + $1.seconds }
        let shapes = try executor.graph.shapes(batch: batch)
        if json {
            let rows: [[String: Any]] = nodes.map { node, seconds in
                ["node": node.name, "kind": node.op.kind, "shape": describe(node, shapes: shapes), "ms": 1000 * seconds,
                 "flops": 2 * Double(macs[node.name] ?? 0)]
            }
            return String(decoding: try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys]), as: UTF8.self)
        }
        let memory = try executor.memory(for: input.shape)
        var lines = [String(format: "%@ at batch %d on %d threads: %.2f ms in %d nodes (medians of %d runs); activations %.1f MB, scratch %.1f MB",
                            URL(fileURLWithPath: path).lastPathComponent, batch, threads, 1000 * total, nodes.count, runs,
                            Double(memory.plannedBytes) / 1_048_576, Double(memory.workspaceBytes) / 1_048_576),
                     batch > 1 ? "images one at a time up to node \(try executor.batchSplitNode ?? "(none)")" : "",
                     "node".padded(to: 40) + " kind" + String(repeating: " ", count: 26) + "ms   share   GFLOP/s"]
        for (node, seconds) in nodes.sorted(by: { $0.seconds > $1.seconds }).prefix(30) {
            let flops = 2 * Double(macs[node.name] ?? 0)
            lines.append(String(node.name.suffix(40)).padded(to: 40) + " " + describe(node, shapes: shapes).padded(to: 28)
                         + String(format: " %7.3f %6.1f%% %9.1f", 1000 * seconds, 100 * seconds / total, flops / seconds / 1e9))
        }
        lines.append("\nby kind")
        let kinds = Dictionary(grouping: nodes, by: { $0.node.op.kind }).mapValues { $0.reduce(0) { $0 + $1.seconds } }
        for (kind, seconds) in kinds.sorted(by: { $0.value > $1.value }) {
            lines.append(kind.padded(to: 40) + String(format: " %18.3f %6.1f%%", 1000 * seconds, 100 * seconds / total))
        }
        return lines.joined(separator: "\n")
    }

    /// A node's kind, and for a convolution its geometry: "conv 3x3/2 dw 96@112" is a depthwise
    /// 3x3 convolution at stride 2 over 96 channels of 112-wide input.
    private func describe(_ node: Node, shapes: [String: [Int]]) -> String {
        guard let conv = node.op as? Conv2D, let input = shapes[node.inputs[0]], input.count == 4 else { return node.op.kind }
        let kind = conv.groups == 1 ? "" : conv.groups == conv.inChannels ? " dw" : " g\(conv.groups)"
        let stride = conv.stride == (1, 1) ? "" : "/\(conv.stride.h)"
        let act = conv.activation.map { " " + $0.name } ?? ""
        return "conv \(conv.kernel.h)x\(conv.kernel.w)\(stride)\(kind) \(conv.inChannels)>\(conv.outChannels)@\(input[3])\(act)"
    }

    /// onnxruntime's median through scripts/onnxruntime_bench.py, when the venv has it.
    private func reference(_ path: String, threads: Int) -> (median: Double, output: [Double])? {
        guard let answer = PythonReference(python: python, script: "scripts/onnxruntime_bench.py")
            .answer([path, "\(threads)", "\(runs)"] + (cpuTime ? ["cpu"] : [])), let median = answer["median_ms"] as? Double else { return nil }
        return (median, answer["output"] as? [Double] ?? [])
    }
}

extension SaliencyMethod: ExpressibleByArgument {}
