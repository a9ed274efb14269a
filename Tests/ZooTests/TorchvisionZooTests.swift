import CNN
import Foundation
import Imaging
import Service
import XCTest

/// torchvision's classification catalogue, as `scripts/torchvision_zoo.py` exports it (`make
/// test-zoo`): every model imports, its logits match onnxruntime's, its gradient saliency
/// matches Captum's, and a fine-tuning step trains it. Opt-in: it runs only when SALIENT_ZOO
/// names the export folder (about an hour), and SALIENT_ZOO_MODELS may list some models.
final class TorchvisionZooTests: XCTestCase {
    /// onnxruntime's logits, within this fraction of the largest.
    static let logitsTolerance: Float = 1e-3
    /// Captum's saliency map: at least this Pearson correlation, and at most this largest
    /// difference relative to the map's largest value...
    static let minimumPearson = 0.999
    static let saliencyTolerance: Float = 1e-3
    /// ...or, where rounding alone moves Captum's own map further than that from its float64 map
    /// (ReLU and max-pool decisions within rounding of a tie, which any float32 engine may take
    /// either way), within this many times that distance of the float64 map. Rounding is
    /// measured twice: Captum's float32 map, and float64 maps of the model with its weights and
    /// input moved by one float32 rounding; the float32 map alone is one sample of where the
    /// near-ties fall, and missed RegNet-Y 800MF's (docs/TORCHVISION-ZOO.md).
    static let roundingMargin: Float = 3
    /// The fine-tuning step's first-order decrease of the loss, as a fraction of it: small
    /// enough that the loss's curvature changes it by well under half. Where the float32 loss
    /// itself moves by rounding as much as that (ResNet-152: PyTorch's own float32 step achieves
    /// 0.53 of it, its float64 step 1.00), a step ten times larger must achieve it instead.
    static let fineTuningDecreases = [1e-3, 1e-2]

    struct Meta: Decodable {
        struct Preprocessing: Decodable {
            var resize: Int
            var crop: Int
            var interpolation: String
            var mean: [Float]
            var std: [Float]
        }
        var name: String
        var opset: Int
        var top: Int
        var preprocessing: Preprocessing
        /// Captum's float32 map against its float64 map.
        var float32_float64_pearson: Double
        var float32_float64_max_diff: Float
        /// Float64 maps with weights and input moved by a float32 rounding, against the float64
        /// map: the least Pearson and the largest difference (absent for issue 18's GoogLeNet).
        var perturbed_pearson: Double?
        var perturbed_max_diff: Float?
        /// False for issue 18's GoogLeNet, whose BatchNorm statistics are merely random.
        var calibrated_statistics: Bool
        /// Issue 18's GoogLeNet only: Captum's float32 map at one thread against two.
        var one_two_threads_pearson: Double?
        var one_two_threads_max_diff: Float?
        /// ReLU decisions within float32 error of zero, and how many of them have a flip in flips.pb
        /// (none past most_flips); absent in exports made before they were measured.
        var undetermined_relu: Int?
        /// ReLU module calls instrumented; 0 where the model applies F.relu (GoogLeNet, Inception v3).
        var relu_calls: Int?
        var flips: Int?
        var most_flips: Int?
        var undetermined_margin: Double?
    }

    struct Manifest: Decodable {
        struct Model: Decodable {
            var name: String
            var opset: Int
            var status: String
            /// Not in torchvision's list: issue 18's GoogLeNet.
            var extra: Bool?
        }
        struct Excluded: Decodable {
            var name: String
            var reason: String
        }
        var catalogue: Int
        var models: [Model]
        var excluded: [Excluded]
    }

    /// One row of the table.
    struct Row {
        var name: String
        var extra = false
        var opset: Int
        var logitsDifference: Float?
        var pearson: Double?
        var saliencyDifference: Float?
        /// Against Captum's float64 map, and Captum's float32 map's own distance from it.
        var float64Difference: Float?
        var float64Pearson: Double?
        var roundingPearson: Double?
        var roundingFloor: Float?
        var undetermined: Int?
        /// Flips of undetermined decisions that explain our gradient, and what is left unexplained.
        var flipped: Int?
        var explainedDifference: Float?
        /// Issue 18's GoogLeNet: the figures that explain it.
        var note: String?
        var fineTuning: String?
        var preprocessing: String?
        var failures: [String] = []
        var seconds: Double = 0
    }

    func testCatalogue() throws {
        guard let folder = ProcessInfo.processInfo.environment["SALIENT_ZOO"] else {
            throw XCTSkip("set SALIENT_ZOO to the folder scripts/torchvision_zoo.py exported into (make test-zoo)")
        }
        let root = URL(fileURLWithPath: folder)
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: root.appendingPathComponent("manifest.json")))
        let only = ProcessInfo.processInfo.environment["SALIENT_ZOO_MODELS"].map { Set($0.split(separator: ",").map(String.init)) }
        var rows: [Row] = []
        for model in manifest.models where only?.contains(model.name) ?? true {
            var row = Row(name: model.name, extra: model.extra ?? false, opset: model.opset)
            let started = Date()
            if model.status != "exported" {
                row.failures.append("not exported: \(model.status)")
            } else {
                do {
                    try check(root.appendingPathComponent(model.name), &row)
                } catch {
                    row.failures.append("\(error)")
                }
            }
            row.seconds = Date().timeIntervalSince(started)
            print(Self.line(row))
            rows.append(row)
            for failure in row.failures { XCTFail("\(model.name): \(failure)") }
        }
        let report = Self.table(rows, manifest: manifest)
        print(report)
        if let path = ProcessInfo.processInfo.environment["SALIENT_ZOO_REPORT"] {
            try report.write(toFile: path, atomically: true, encoding: .utf8)
        }
    }

    private func check(_ directory: URL, _ row: inout Row) throws {
        let meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: directory.appendingPathComponent("meta.json")))
        let input = try ONNXTensor(contentsOf: directory.appendingPathComponent("input.pb")).tensor
        row.preprocessing = try checkPreprocessing(meta, input: input, &row)

        let graph = try ONNXImporter.load(contentsOf: directory.appendingPathComponent("model.onnx"))
        try checkServed(graph, meta, input: input, directory, &row)
        guard meta.calibrated_statistics else { return }
        row.fineTuning = try fineTuningStep(graph, input: input, &row)
    }

    /// Logits and the gradient map of the graph as the service serves it: cut at the logits and
    /// optimized (its executor's buffers go before fine-tuning takes memory of its own).
    private func checkServed(_ graph: Graph, _ meta: Meta, input: Tensor, _ directory: URL, _ row: inout Row) throws {
        let served = try graph.optimizedForInference()
        let expected = try ONNXTensor(contentsOf: directory.appendingPathComponent("logits.pb")).tensor
        let scale = expected.scalars.map(abs).max() ?? 1
        let executor = Executor(graph: served)
        let logits = try executor.infer(input)
        XCTAssertEqual(logits.shape, expected.shape)
        row.logitsDifference = maxDifference(logits, expected) / scale
        if !(row.logitsDifference! <= Self.logitsTolerance) {
            row.failures.append("logits differ from onnxruntime's by \(row.logitsDifference!) of the largest")
        }

        let saliency = try SaliencyComputer(executor: executor).compute(.gradient, input: input, targetClass: meta.top)
        let map = ChannelReduction.maxAbs.apply(saliency.attribution)
        let captum = try ONNXTensor(contentsOf: directory.appendingPathComponent("saliency.pb")).tensor
        let exact = try ONNXTensor(contentsOf: directory.appendingPathComponent("saliency_float64.pb")).tensor
        XCTAssertEqual(map.shape, captum.shape)
        row.pearson = pearson(map.scalars, captum.scalars)
        row.saliencyDifference = maxDifference(map, captum) / (captum.scalars.max() ?? 1)
        row.float64Difference = maxDifference(map, exact) / (exact.scalars.max() ?? 1)
        row.float64Pearson = pearson(map.scalars, exact.scalars)
        row.roundingPearson = min(meta.float32_float64_pearson, meta.perturbed_pearson ?? 1)
        row.roundingFloor = max(meta.float32_float64_max_diff, meta.perturbed_max_diff ?? 0)
        row.undetermined = meta.relu_calls == 0 ? nil : meta.undetermined_relu
        let undetermined = try UndeterminedDecisions(directory: directory, meta: meta)
        if let undetermined {
            let (flipped, difference) = undetermined.explain(saliency.attribution)
            (row.flipped, row.explainedDifference) = (flipped.count, difference)
        }
        guard meta.calibrated_statistics else {
            // Issue 18's GoogLeNet: rounding alone moves Captum's own map, so no float32 map can be
            // held to it; the export must say so, or the suite would blame the engine again.
            let threads = meta.one_two_threads_pearson ?? 1
            if meta.float32_float64_pearson >= Self.minimumPearson || threads >= Self.minimumPearson {
                row.failures.append("issue 18's GoogLeNet was expected to be ill-conditioned, but Captum's float32 map correlates at "
                                    + "\(meta.float32_float64_pearson) with its float64 map and at \(threads) between one thread and two")
            }
            row.note = String(format: "statistics merely random: ours against Captum Pearson %.3f; Captum against itself at 1 and 2 threads %.3f "
                              + "(max rel diff %.2f); Captum float32 against float64 %.3f; ours against float64 %.3f",
                              row.pearson!, threads, meta.one_two_threads_max_diff ?? 0, meta.float32_float64_pearson,
                              pearson(map.scalars, exact.scalars))
            return
        }
        // Past most_flips undetermined decisions (measured, not assumed) the map is decided by
        // rounding in too many places for any float32 engine, PyTorch's included, to be held to
        // 0.999 against it: ours is then held to the float64 map by the rounding rule below.
        let illConditioned = (meta.undetermined_relu ?? 0) > (meta.most_flips ?? .max)
        if illConditioned {
            row.note = "\(meta.undetermined_relu!) undetermined ReLU decisions (within \(meta.undetermined_margin ?? 0) float32 errors of zero; "
                + "past \(meta.most_flips!) they are not explained one by one, and a reference below 0.999 does not fail); "
                + String(format: "Captum's float32 map against its float64 map Pearson %.6f, ours %.6f", meta.float32_float64_pearson, row.float64Pearson!)
        } else if row.roundingPearson! < Self.minimumPearson {
            row.failures.append("the reference is ill-conditioned: rounding alone moves Captum's map to Pearson \(row.roundingPearson!) "
                                + "with its float64 map (float32 \(meta.float32_float64_pearson), perturbed float64 \(meta.perturbed_pearson ?? 1))")
        }
        let withinRounding = row.float64Difference! <= max(Self.saliencyTolerance, Self.roundingMargin * row.roundingFloor!)
        // Two maps that rounding each moves correlate less with each other than with the float64
        // map: where rounding alone costs Captum's map some correlation, ours may lose this many
        // times as much against the float64 map (ResNet-101: Captum 0.99924, ours against it 0.99896).
        let correlated = row.pearson! >= Self.minimumPearson
            || row.float64Pearson! >= 1 - Double(Self.roundingMargin) * (1 - row.roundingPearson!)
        // Or every difference is a decision rounding may take either way, each flipped exactly.
        let explained = (row.explainedDifference ?? .infinity) <= Self.saliencyTolerance
        if !(correlated && (row.saliencyDifference! <= Self.saliencyTolerance || withinRounding || explained)) {
            row.failures.append("saliency against Captum's: Pearson \(row.pearson!) (\(row.float64Pearson!) against the float64 map, where rounding "
                                + "alone brings Captum's to \(row.roundingPearson!)), largest relative difference \(row.saliencyDifference!) "
                                + "(\(row.float64Difference!) from the float64 map, where rounding alone moves Captum's map by \(row.roundingFloor!): "
                                + "float32 \(meta.float32_float64_max_diff), perturbed float64 \(meta.perturbed_max_diff.map { "\($0)" } ?? "-"))")
        }
    }

    /// The service's preset for this model must prepare chelsea.png as torchvision did.
    private func checkPreprocessing(_ meta: Meta, input: Tensor, _ row: inout Row) throws -> String {
        let p = meta.preprocessing
        let candidates = Preprocessing.presets.filter { _, preset in
            preset.resize == .shorterSide(p.resize) && preset.crop == Preprocessing.Size(width: p.crop, height: p.crop)
                && preset.mean == p.mean && preset.std == p.std && (preset.interpolation ?? .bilinear).rawValue == p.interpolation
        }
        guard let (name, preset) = candidates.min(by: { $0.key < $1.key }) else {
            row.failures.append("no preprocessing preset has \(p)")
            return "none"
        }
        let image = try ImageDecoder.decode(Data(contentsOf: Self.chelsea))
        let (values, shape) = try preset.apply(to: image)
        guard shape == input.shape else {
            row.failures.append("preset \(name) gives \(shape), torchvision \(input.shape)")
            return name
        }
        // One level of 8 bits, over the smallest std: Pillow and our resampler may round a
        // sample differently.
        let level = 1 / 255 / (p.std.min() ?? 1)
        let difference = maxDifference(Tensor(shape: shape, scalars: values), input)
        if difference > level * 1.01 {
            row.failures.append("preset \(name) differs from torchvision's transform by \(difference)")
        }
        return name
    }

    /// The transfer-learning job's step: the head replaced for two classes as a job's default
    /// does (a new classifier at the classifier cut), every layer trainable,
    /// one step of plain gradient descent on two images (the input and its negative, whose
    /// features differ) in training mode. A step along the gradient sized to lower the loss by
    /// 0.1% must lower it by about that much (with Dropout's masks held fixed): the backward pass
    /// through every layer is the gradient of the training loss, and the weights it moves are
    /// the ones that count.
    private func fineTuningStep(_ graph: Graph, input: Tensor, _ row: inout Row) throws -> String {
        let replaced = try HeadReplacement.replacing(of: graph, classes: 2, choice: .classifier, seed: 1).graph
        // torchvision's heads are pooling and dense layers, SqueezeNet's one class-scoring
        // convolution: a cut that takes more left the body without its convolutions (it took
        // all but two of EfficientNet-B0's, cut before its first squeeze-and-excitation block).
        let convolutions = { (g: Graph) in g.nodes.filter { $0.op is Conv2D }.count }
        if convolutions(replaced) < convolutions(graph) - 1 {
            row.failures.append("fine-tuning: the classifier cut kept \(convolutions(replaced)) of the \(convolutions(graph)) convolutions")
        }
        let batch = Tensor(shape: [2] + input.shape.dropFirst(), scalars: input.scalars + input.scalars.map { -$0 })
        let labels = [0, 1]
        let executor = Executor(graph: replaced)
        func loss() throws -> (Float, Trace) {
            let trace = try executor.forward(batch, context: ForwardContext(isTraining: true, random: RandomSource(seed: 5)))
            return (softmaxCrossEntropy(logits: trace.output, labels: labels).loss, trace)
        }
        let parameters = replaced.parameters
        for p in parameters { p.zeroGradient() }
        let (before, trace) = try loss()
        let gradient = softmaxCrossEntropy(logits: trace.output, labels: labels).gradient
        _ = executor.backward(trace, gradient: gradient, computesParameterGradients: true, returning: [])
        var squares: Double = 0
        for p in parameters {
            for g in p.gradient.scalars { squares += Double(g) * Double(g) }
        }
        guard before.isFinite, squares.isFinite, squares > 0 else {
            row.failures.append("fine-tuning: loss \(before), squared gradient norm \(squares)")
            return "failed"
        }
        var steps: [String] = []
        for decrease in Self.fineTuningDecreases {
            // w -= rate * g lowers the loss by rate * |g|^2 to first order.
            let rate = Float(decrease * Double(before) / squares)
            // Applied directly: an optimizer's state would hold another copy of RegNet-Y 128GF's 2.6 GB.
            for p in parameters { p.value.add(p.gradient, scaledBy: -rate) }
            let (after, _) = try loss()
            // Back to the start, up to a rounding of each weight (a copy of RegNet-Y 128GF's would be 2.6 GB).
            for p in parameters { p.value.add(p.gradient, scaledBy: rate) }
            let predicted = Float(decrease) * before, achieved = before - after
            steps.append(String(format: "%.4f -> %.4f (%.2f of predicted)", before, after, achieved / predicted))
            if after.isFinite && achieved > 0.5 * predicted && achieved < 1.5 * predicted { return steps.joined(separator: "; ") }
        }
        row.failures.append("fine-tuning: steps predicted to lower the loss by \(Self.fineTuningDecreases) of it: \(steps.joined(separator: "; "))")
        return steps.joined(separator: "; ")
    }

    static let chelsea = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data/images/chelsea.png")

    static func line(_ row: Row) -> String {
        func f(_ v: Float?) -> String { v.map { String(format: "%.1e", $0) } ?? "-" }
        func p(_ v: Double?) -> String { v.map { String(format: "%.6f", $0) } ?? "-" }
        let ok = row.failures.isEmpty ? "ok" : "FAILED"
        return "| \(row.name) | \(row.opset) | \(f(row.logitsDifference)) | \(p(row.pearson)) | \(f(row.saliencyDifference)) | "
            + "\(p(row.float64Pearson)) / \(f(row.float64Difference)) | \(p(row.roundingPearson)) / \(f(row.roundingFloor)) | "
            + "\(row.undetermined.map(String.init) ?? "-") / \(row.flipped.map(String.init) ?? "-") / \(f(row.explainedDifference)) | \(row.fineTuning ?? "-") | \(row.preprocessing ?? "-") | "
            + "\(String(format: "%.0f", row.seconds)) | \(ok) |"
    }

    static func table(_ rows: [Row], manifest: Manifest) -> String {
        var lines = [
            "| model | opset | logits max diff (of largest) | saliency Pearson | saliency max rel diff | ours vs float64: Pearson / max rel diff | "
                + "rounding (Captum float32, or perturbed float64, vs float64; the worse): Pearson / max rel diff | "
                + "undetermined ReLU decisions / flipped / gradient diff after flips | fine-tune step loss | preset | s | |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        lines += rows.map(line)
        let catalogue = rows.filter { !$0.extra }
        let passed = catalogue.filter { $0.failures.isEmpty }.count
        lines.append("")
        lines.append("\(passed) of \(catalogue.count) CNNs passed; torchvision lists \(manifest.catalogue), of which "
                     + "\(manifest.excluded.count) vision transformers are out of scope:")
        lines += manifest.excluded.map { "- \($0.name): \($0.reason)" }
        for row in rows { if let note = row.note { lines.append("\(row.name): \(note)") } }
        for row in rows where !row.failures.isEmpty { lines.append("FAILED \(row.name): \(row.failures.joined(separator: "; "))") }
        return lines.joined(separator: "\n")
    }
}

func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
    guard a.count == b.count else { return .infinity }
    return zip(a.scalars, b.scalars).reduce(0) { Swift.max($0, abs($1.0 - $1.1)) }
}

func pearson(_ a: [Float], _ b: [Float]) -> Double {
    let n = Double(a.count)
    let (ma, mb) = (a.reduce(0) { $0 + Double($1) } / n, b.reduce(0) { $0 + Double($1) } / n)
    var (sab, saa, sbb) = (0.0, 0.0, 0.0)
    for (x, y) in zip(a, b) {
        let (dx, dy) = (Double(x) - ma, Double(y) - mb)
        sab += dx * dy
        saa += dx * dx
        sbb += dy * dy
    }
    return sab / (saa * sbb).squareRoot()
}
