import CNN
import Foundation
import XCTest

/// Export to ONNX: re-import gives the same outputs, and onnxruntime (through $SALIENT_PYTHON)
/// accepts the file and computes the same outputs.
final class ONNXExportTests: XCTestCase {
    private var random = RandomSource(seed: 11)

    private func randomTensor(_ shape: [Int], scale: Float = 1) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in (random.nextUniform() * 2 - 1) * scale })
    }

    private func parameter(_ name: String, _ shape: [Int], scale: Float = 0.5) -> Parameter {
        Parameter(name: name, value: randomTensor(shape, scale: scale))
    }

    /// A native graph touching every exportable operator.
    private func nativeGraph() throws -> Graph {
        let bn = BatchNorm(name: "bn", channels: 4)
        bn.runningMean.value = randomTensor([4], scale: 0.1)
        bn.runningVariance.value = randomTensor([4], scale: 0.2).map { $0 + 1 }
        bn.scale.value = randomTensor([4], scale: 0.2).map { $0 + 1 }
        let nodes = [
            Node(name: "conv1", op: Conv2D(weight: parameter("conv1.weight", [4, 3, 3, 3]), bias: parameter("conv1.bias", [4]),
                                           padding: .same(lower: false), activation: .relu), inputs: ["image"]),
            Node(name: "bn", op: bn, inputs: ["conv1"]),
            Node(name: "lrn", op: LRN(size: 3), inputs: ["bn"]),
            Node(name: "leaky", op: ActivationLayer(.leakyReLU(alpha: 0.1)), inputs: ["lrn"]),
            Node(name: "pool", op: MaxPool2D(kernel: (2, 2)), inputs: ["leaky"]),
            Node(name: "depthwise", op: Conv2D(weight: parameter("dw.weight", [4, 1, 3, 3]), bias: nil,
                                               padding: .explicit(top: 1, left: 1, bottom: 1, right: 1), groups: 4), inputs: ["pool"]),
            Node(name: "residual", op: Elementwise(.add), inputs: ["pool", "depthwise"]),
            Node(name: "avg", op: AvgPool2D(kernel: (2, 2), countIncludePad: true), inputs: ["residual"]),
            Node(name: "gmp", op: GlobalMaxPool(), inputs: ["residual"]),
            Node(name: "gap", op: GlobalAvgPool(), inputs: ["residual"]),
            Node(name: "pooled", op: Elementwise(.sub), inputs: ["gmp", "gap"]),
            Node(name: "flat", op: Flatten(), inputs: ["avg"]),
            Node(name: "dropout", op: Dropout(rate: 0.3), inputs: ["flat"]),
            Node(name: "dense", op: Dense(weight: parameter("fc.weight", [5, 16]), bias: parameter("fc.bias", [5]),
                                          activation: .sigmoid), inputs: ["dropout"]),
            Node(name: "slice", op: Slice(starts: [0], ends: [4], axes: [1]), inputs: ["dense"]),
            Node(name: "projection", op: Constant(randomTensor([4, 3])), inputs: []),
            Node(name: "matmul", op: MatMul(), inputs: ["slice", "projection"]),
            Node(name: "gather", op: Gather(axis: 1, indices: [2, 0], indicesShape: [2]), inputs: ["matmul"]),
            Node(name: "pooled_flat", op: Flatten(), inputs: ["pooled"]),
            Node(name: "mean", op: ReduceMean(axes: [1]), inputs: ["pooled_flat"]),
            Node(name: "scaled", op: Elementwise(.mul), inputs: ["gather", "mean"]),
            Node(name: "denominator", op: Slice(starts: [3], ends: [5], axes: [1]), inputs: ["dense"]),
            Node(name: "divided", op: Elementwise(.div), inputs: ["scaled", "denominator"]),
            Node(name: "concat", op: Concat(axis: 1), inputs: ["divided", "slice", "pooled_flat"]),
            Node(name: "swish", op: ActivationLayer(.hardSwish), inputs: ["concat"]),
            Node(name: "clip", op: ActivationLayer(.relu6), inputs: ["swish"]),
            Node(name: "padded", op: Pad(before: [0, 1], after: [0, 1], mode: .reflect), inputs: ["clip"]),
            Node(name: "grid", op: Reshape([0, 3, 4]), inputs: ["padded"]),
            Node(name: "swapped", op: Transpose(permutation: [0, 2, 1]), inputs: ["grid"]),
            Node(name: "tanh", op: ActivationLayer(.tanh), inputs: ["swapped"]),
            Node(name: "sum", op: Elementwise(.add), inputs: ["tanh", "tanh", "swapped"]),
            Node(name: "hsig", op: ActivationLayer(.hardSigmoid(alpha: 0.2, beta: 0.5)), inputs: ["sum"]),
            Node(name: "logits", op: Flatten(), inputs: ["hsig"]),
            Node(name: "probabilities", op: Softmax(axis: -1, log: true), inputs: ["logits"]),
        ]
        return try Graph(name: "exported", inputName: "image", inputShape: [3, 8, 8], nodes: nodes)
    }

    func testNativeGraphRoundTrip() throws {
        let graph = try nativeGraph()
        let data = try ONNXExporter.export(graph)
        let reimported = try ONNXImporter.load(data: data)
        let x = randomTensor([2, 3, 8, 8])
        assertClose(try Executor(graph: reimported).infer(x), try Executor(graph: graph).infer(x), rtol: 1e-5, atol: 1e-6, "round trip")
        XCTAssertEqual(Set(reimported.parameters.map(\.name)), Set(graph.parameters.map(\.name)))
        XCTAssertEqual(reimported.buffers.count, 2)
    }

    func testNativeGraphInOnnxRuntime() throws {
        let graph = try nativeGraph()
        let x = randomTensor([2, 3, 8, 8])
        assertClose(try onnxRuntime(try ONNXExporter.export(graph), x), try Executor(graph: graph).infer(x),
                    rtol: 1e-4, atol: 1e-5, "onnxruntime")
    }

    /// The embedded default model's JSON architecture, with its seeded initial weights.
    func testNativeJSONModelInOnnxRuntime() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("models/fashion-cnn.architecture.json")
        let graph = try Architecture(json: Data(contentsOf: file)).makeGraph(seed: 5)
        let x = randomTensor([3] + graph.inputShape)
        let expected = try Executor(graph: graph).infer(x)
        let data = try ONNXExporter.export(graph)
        assertClose(try Executor(graph: try ONNXImporter.load(data: data)).infer(x), expected, rtol: 1e-5, atol: 1e-6, "re-import")
        assertClose(try onnxRuntime(data, x), expected, rtol: 1e-4, atol: 1e-5, "onnxruntime")
    }

    /// An imported model-zoo graph, fine-tuning-shaped: weights as Parameters, exported back.
    func testImportedModelRoundTripsThroughOnnxRuntime() throws {
        let root = try ONNXTestData.sharedFolder("onnx-light")
        let options = ONNXImportOptions(constantOfShapeValue: ONNXModelZooTests.closedFormWeights)
        let graph = try ONNXImporter.load(contentsOf: root.appendingPathComponent("light_squeezenet.onnx"), options: options)
        // A fine-tuned model has weights of its own.
        for parameter in graph.parameters { parameter.value = parameter.value.map { $0 * 0.9 } }
        let data = try ONNXExporter.export(graph)
        let x = randomTensor([1, 3, 224, 224])
        let expected = try Executor(graph: graph).infer(x)
        assertClose(try Executor(graph: try ONNXImporter.load(data: data)).infer(x), expected, rtol: 1e-5, atol: 1e-6, "re-import")
        assertClose(try onnxRuntime(data, x), expected, rtol: 1e-3, atol: 1e-5, "onnxruntime")
    }

    /// The operators the torchvision catalogue brought in: a channels-last block as ConvNeXt's
    /// (LayerNorm, Linear over the last axis, GELU, a trained layer scale) and Resize in each
    /// filter, through re-import and onnxruntime.
    func testConvNeXtBlockAndResizeExport() throws {
        let nodes = [
            Node(name: "conv", op: Conv2D(weight: parameter("conv.weight", [4, 3, 3, 3]), bias: parameter("conv.bias", [4]),
                                          padding: .same(lower: false)), inputs: ["image"]),
            Node(name: "up", op: Resize(targets: [nil, nil, .scale(2), .scale(2)], filter: .nearest(.floor),
                                        coordinateMode: .asymmetric), inputs: ["conv"]),
            Node(name: "smooth", op: Resize(targets: [nil, nil, .size(11), .size(13)], filter: .linear,
                                            coordinateMode: .pytorchHalfPixel), inputs: ["up"]),
            Node(name: "sharp", op: Resize(targets: [nil, nil, .size(9), .size(9)], filter: .cubic(a: -0.75),
                                           coordinateMode: .alignCorners), inputs: ["smooth"]),
            Node(name: "last", op: Transpose(permutation: [0, 2, 3, 1]), inputs: ["sharp"]),
            Node(name: "norm", op: LayerNorm(scale: parameter("norm.weight", [4]), shift: parameter("norm.bias", [4]), epsilon: 1e-6),
                 inputs: ["last"]),
            Node(name: "expand", op: Dense(weight: parameter("fc1.weight", [8, 4]), bias: parameter("fc1.bias", [8]),
                                           appliesToLastAxis: true), inputs: ["norm"]),
            Node(name: "gelu", op: ActivationLayer(.gelu), inputs: ["expand"]),
            Node(name: "gelu_tanh", op: Pointwise(.geluTanh), inputs: ["gelu"]),
            Node(name: "project", op: Dense(weight: parameter("fc2.weight", [4, 8]), bias: nil, appliesToLastAxis: true),
                 inputs: ["gelu_tanh"]),
            Node(name: "first", op: Transpose(permutation: [0, 3, 1, 2]), inputs: ["project"]),
            Node(name: "layer_scale", op: Constant(weight: parameter("layer_scale", [4, 1, 1])), inputs: []),
            Node(name: "scaled", op: Elementwise(.mul), inputs: ["first", "layer_scale"]),
            Node(name: "square", op: Power(), inputs: ["scaled", "two"]),
            Node(name: "two", op: Constant(Tensor(shape: [], scalars: [2])), inputs: []),
            Node(name: "root", op: Pointwise(.sqrt), inputs: ["square"]),
            Node(name: "inverse", op: Pointwise(.reciprocal), inputs: ["root"]),
            Node(name: "erf", op: Pointwise(.erf), inputs: ["inverse"]),
            Node(name: "channels", op: LayerNorm(scale: parameter("plane.weight", [81]), shift: nil, axis: -2, epsilon: 1e-5),
                 inputs: ["erf"]),
        ]
        let graph = try Graph(name: "block", inputName: "image", inputShape: [3, 5, 6], nodes: nodes)
        let data = try ONNXExporter.export(graph)
        let reimported = try ONNXImporter.load(data: data)
        let x = randomTensor([2, 3, 5, 6])
        let expected = try Executor(graph: graph).infer(x)
        assertClose(try Executor(graph: reimported).infer(x), expected, rtol: 1e-5, atol: 1e-6, "re-import")
        XCTAssertEqual(Set(reimported.parameters.map(\.name)).count, graph.parameters.count, "every weight trains again")
        assertClose(try onnxRuntime(data, x), expected, rtol: 1e-3, atol: 1e-5, "onnxruntime")
    }

    func testUnexportableOperatorIsAnError() throws {
        final class Custom: Operator {
            let kind = "custom"
            func outputShape(for inputShapes: [[Int]]) throws -> [Int] { inputShapes[0] }
            func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
                output.scalars.update(from: inputs[0].scalars, count: output.count)
            }
            func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor, context: BackwardContext) -> [Tensor?] {
                [outputGradient]
            }
        }
        let graph = try Graph(name: "g", inputShape: [2], nodes: [Node(name: "c", op: Custom(), inputs: ["input"])])
        XCTAssertThrowsError(try ONNXExporter.export(graph)) { error in
            XCTAssertTrue("\(error)".contains("'c'") && "\(error)".contains("custom"), "\(error)")
        }
    }

    /// Runs `model` on `input` in onnxruntime through scripts/onnxruntime_run.py.
    private func onnxRuntime(_ model: Data, _ input: Tensor) throws -> Tensor {
        guard let python = ProcessInfo.processInfo.environment["SALIENT_PYTHON"], !python.isEmpty else {
            throw XCTSkip("SALIENT_PYTHON is not set")
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/onnxruntime_run.py")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (modelURL, inputURL, outputURL) = (dir.appendingPathComponent("model.onnx"), dir.appendingPathComponent("input.pb"),
                                               dir.appendingPathComponent("output.pb"))
        try model.write(to: modelURL)
        try ONNXTensor(input).serializedData().write(to: inputURL)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path, modelURL.path, inputURL.path, outputURL.path]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            XCTFail("onnxruntime failed: \(String(decoding: message, as: UTF8.self))")
            return Tensor(zeros: [0])
        }
        return try ONNXTensor(contentsOf: outputURL).tensor
    }
}
