import CNN
import Foundation
import XCTest

/// The nine model-zoo graphs of shared/data/onnx-light, with the closed-form weights of its
/// README, against onnxruntime's logits.
final class ONNXModelZooTests: XCTestCase {
    func testAlexNet() throws { try check("bvlc_alexnet") }
    func testZFNet512() throws { try check("zfnet512") }
    func testVGG19() throws { try check("vgg19") }
    func testInceptionV1() throws { try check("inception_v1") }
    func testInceptionV2() throws { try check("inception_v2") }
    func testResNet50() throws {
        let memory = try check("resnet50")
        // The memory target, stated for ResNet-50: the whole inference, im2col scratch
        // included, within about twice the largest layer input plus output.
        XCTAssertLessThanOrEqual(memory.plannedBytes + memory.workspaceBytes, 2 * memory.largestPairBytes)
    }
    func testSqueezeNet() throws { try check("squeezenet") }
    func testShuffleNet() throws { try check("shufflenet") }
    func testDenseNet121() throws { try check("densenet121") }

    /// The README's weight for element i of the k-th ConstantOfShape output.
    static func closedFormWeights(_ site: ONNXConstantOfShapeSite) -> Tensor {
        let shape = site.shape
        let count = shape.reduce(1, *)
        let isVariance = site.consumers.contains { $0.operatorType == "BatchNormalization" && $0.inputIndex == 4 }
        let isScale = site.consumers.contains { $0.operatorType == "BatchNormalization" && $0.inputIndex == 1 }
        let fanIn = Double(shape.dropFirst().reduce(1, *))
        let scalars = (0..<count).map { i -> Float in
            let h = fmix32(UInt32(truncatingIfNeeded: UInt64(i) &+ UInt64(site.index) &* 0x9E37_79B9))
            let u = Double(h) / 4_294_967_296 * 2 - 1
            let w: Double
            if isVariance {
                w = 1 + 0.25 * (u + 1)
            } else if isScale {
                w = 1 + 0.1 * u
            } else if shape.count >= 2 {
                w = (6 / fanIn).squareRoot() * u
            } else {
                w = 0.01 * u
            }
            return Float(w)
        }
        return Tensor(shape: shape, scalars: scalars)
    }

    static func fmix32(_ value: UInt32) -> UInt32 {
        var h = value
        h ^= h >> 16
        h = h &* 0x85EB_CA6B
        h ^= h >> 13
        h = h &* 0xC2B2_AE35
        h ^= h >> 16
        return h
    }

    @discardableResult
    private func check(_ model: String) throws -> InferenceMemory {
        let root = try ONNXTestData.sharedFolder("onnx-light")
        let fixtures = root.appendingPathComponent("fixtures/\(model)")
        let data = try Data(contentsOf: root.appendingPathComponent("light_\(model).onnx"))
        var options = ONNXImportOptions(constantOfShapeValue: Self.closedFormWeights)
        let logitsFile = fixtures.appendingPathComponent("logits_0.pb")
        let expectedFile: URL
        if FileManager.default.fileExists(atPath: logitsFile.path) {
            // The logits are the input of the final Softmax.
            let softmax = try XCTUnwrap(ONNXImporter.info(data: data).nodes.last { $0.operatorType == "Softmax" })
            options.outputName = softmax.inputs[0]
            expectedFile = logitsFile
        } else {
            expectedFile = fixtures.appendingPathComponent("output_0.pb")
        }
        let graph = try ONNXImporter.load(data: data, options: options)
        let input = try ONNXTensor(contentsOf: fixtures.appendingPathComponent("input_0.pb")).tensor
        let sine = Tensor(shape: input.shape, scalars: (0..<input.count).map { Float(sin(0.01 * Double($0))) })
        XCTAssertEqual(input, sine, "the fixture input follows the README")

        let expected = try ONNXTensor(contentsOf: expectedFile).tensor
        let output = try Executor(graph: graph).infer(input)
        let scale = expected.scalars.map(abs).max() ?? 1
        assertClose(output, expected, rtol: 0, atol: 1e-3 * scale, model)
        let optimizedGraph = try graph.optimizedForInference()
        let threads = EngineThreads.count
        defer { EngineThreads.set(threads) }
        EngineThreads.set(2)
        let executor = Executor(graph: optimizedGraph)
        let optimized = try executor.infer(input)
        assertClose(optimized, expected, rtol: 0, atol: 1e-3 * scale, "\(model) optimized for inference")
        // Activations planned once, within a quarter of the floor any plan has, the largest layer
        // input plus output (the nine graphs plan at 1.0-1.2 times it; the issue asks for at most
        // about twice).
        let memory = try executor.memory(for: input.shape)
        XCTAssertLessThanOrEqual(memory.plannedBytes, 5 * memory.largestPairBytes / 4, "\(model): planned activations")
        // A batch gives each image what it gets alone: the images go one at a time through the
        // head and together through the tail, where small planes are multiplied side by side.
        let images = [input, Tensor(shape: input.shape, scalars: input.scalars.reversed()), input.map { 0.5 * $0 }]
        let batched = try executor.infer(Tensor(shape: [3] + input.shape.dropFirst(), scalars: images.flatMap(\.scalars)))
        XCTAssertNotNil(try executor.batchSplitNode, "\(model) has a point where a batch comes together")
        for (s, image) in images.enumerated() {
            let alone = try executor.infer(image)
            let row = batched.count / images.count
            assertClose(Tensor(shape: alone.shape, scalars: Array(batched.scalars[(s * row)..<((s + 1) * row)])), alone,
                        rtol: 0, atol: 1e-5 * scale, "\(model): image \(s) of a batch")
        }
        // Threads split the same sums differently only in how GEMM panels are packed.
        EngineThreads.set(1)
        let serial = try Executor(graph: optimizedGraph).infer(input)
        assertClose(serial, optimized, rtol: 0, atol: 1e-5 * scale, "\(model): one thread vs two")
        XCTAssertGreaterThan(graph.parameters.count, 0, "\(model): weights became Parameters")
        return memory
    }
}
