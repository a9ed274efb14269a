import CNN
import Foundation
import XCTest

/// Importer behaviour beyond conformance: clear errors, free batch size, trainable weights.
final class ONNXImporterTests: XCTestCase {
    func testUnsupportedOperatorNamesTheNode() throws {
        let model = ONNXModelWriter(inputs: [("x", [1, 4])], outputs: ["y"], nodes: [
            .init(type: "Einsum", inputs: ["x"], outputs: ["y"], name: "mystery"),
        ]).data
        XCTAssertThrowsError(try ONNXImporter.load(data: model)) { error in
            XCTAssertTrue("\(error)".contains("mystery") && "\(error)".contains("Einsum") && "\(error)".contains("not supported"), "\(error)")
        }
    }

    func testDynamicDimensionOffTheBatchAxisIsAnError() throws {
        let model = ONNXModelWriter(inputs: [("x", [1, nil])], outputs: ["y"], nodes: [
            .init(type: "Relu", inputs: ["x"], outputs: ["y"]),
        ]).data
        XCTAssertThrowsError(try ONNXImporter.load(data: model)) { error in
            XCTAssertTrue("\(error)".contains("axis 1") && "\(error)".contains("'x'"), "\(error)")
        }
    }

    func testFurtherRuntimeInputsMustBeSuppliedAsConstants() throws {
        let model = ONNXModelWriter(inputs: [("x", [1, 1, 4, 4]), ("w", [1, 1, 3, 3])], outputs: ["y"], nodes: [
            .init(type: "Conv", inputs: ["x", "w"], outputs: ["y"], name: "conv"),
        ]).data
        XCTAssertThrowsError(try ONNXImporter.load(data: model)) { error in
            XCTAssertTrue("\(error)".contains("'w'") && "\(error)".contains("constant"), "\(error)")
        }
        let weight = ONNXTensor(shape: [1, 1, 3, 3], elements: .float([Float](repeating: 1, count: 9)))
        let graph = try ONNXImporter.load(data: model, options: ONNXImportOptions(constantInputs: ["w": weight]))
        XCTAssertEqual(graph.parameters.map(\.value.shape), [[1, 1, 3, 3]])
        let y = try Executor(graph: graph).infer(Tensor(shape: [1, 1, 4, 4], repeating: 1))
        XCTAssertEqual(y.scalars, [9, 9, 9, 9])
    }

    /// Two convolutions that read one initializer share one Parameter; the graph lists it once and
    /// an optimizer with a group per node (as fine-tuning builds them) steps it once, by its
    /// gradient summed over both uses. Listed twice, it had moved twice as far.
    func testSharedInitializerIsOneParameterSteppedOnce() throws {
        let model = ONNXModelWriter(inputs: [("x", [1, 1, 4, 4]), ("w", [1, 1, 3, 3])], outputs: ["z"], nodes: [
            .init(type: "Conv", inputs: ["x", "w"], outputs: ["y"], name: "first", ints: ["pads": [1, 1, 1, 1]]),
            .init(type: "Conv", inputs: ["y", "w"], outputs: ["z"], name: "second", ints: ["pads": [1, 1, 1, 1]]),
        ]).data
        let weight = ONNXTensor(randomTensor([1, 1, 3, 3], seed: 4))
        let x = randomTensor([1, 1, 4, 4], seed: 5)
        for makeOptimizer in [{ (groups: [ParameterGroup]) -> Optimizer in SGD(groups: groups, momentum: 0) },
                              { AdamW(groups: $0, weightDecay: 0) }] {
            let graph = try ONNXImporter.load(data: model, options: ONNXImportOptions(constantInputs: ["w": weight]))
            let perNode = graph.nodes.map(\.op.parameters)
            XCTAssertEqual(perNode.map(\.count), [1, 1])
            XCTAssertTrue(perNode[0][0] === perNode[1][0], "one Parameter for the shared initializer")
            XCTAssertEqual(graph.parameters.count, 1)
            XCTAssertEqual(try ModelAnalysis(graph: graph).totalParams, 9)

            let w = graph.parameters[0]
            let executor = Executor(graph: graph)
            func loss() throws -> Double {
                try executor.infer(x).scalars.reduce(0) { $0 + Double($1) }
            }
            let trace = try executor.forward(x, context: ForwardContext(isTraining: true))
            _ = executor.backward(trace, gradient: Tensor(shape: trace.output.shape, repeating: 1),
                                  computesParameterGradients: true, returning: [])
            let (before, gradient) = (w.value, w.gradient)
            // The gradient sums both uses: d loss / d w against central differences.
            for i in 0..<9 {
                let h: Float = 1e-2
                w.value.scalars[i] = before.scalars[i] + h
                let up = try loss()
                w.value.scalars[i] = before.scalars[i] - h
                let down = try loss()
                w.value.scalars[i] = before.scalars[i]
                XCTAssertEqual(gradient.scalars[i], Float((up - down) / Double(2 * h)), accuracy: 2e-2 * max(1, abs(gradient.scalars[i])))
            }
            let optimizer = makeOptimizer(perNode.enumerated().map { ParameterGroup(name: "node\($0)", parameters: $1) })
            optimizer.step(learningRate: 0.01)
            for i in 0..<9 {
                // SGD moves by rate * g; AdamW's first step by rate * g / |g|.
                let g = gradient.scalars[i]
                let step = optimizer is SGD ? 0.01 * g : 0.01 * g / (abs(g) + 1e-8)
                XCTAssertEqual(w.value.scalars[i], before.scalars[i] - step, accuracy: 1e-6, "\(type(of: optimizer)) element \(i)")
            }
        }
    }

    /// Initializers are the exported model's weights, wherever they are read: a product with one
    /// and its bias become a Dense layer over the last axis (PyTorch's Linear on channels-last
    /// data), a scale read by a Mul a trainable Constant; a Constant node's literal stays fixed.
    func testInitializersReadAsDataAreWeights() throws {
        let w: [Float] = (0..<12).map { Float($0) / 10 - 0.5 }
        let model = ONNXModelWriter(inputs: [("x", [nil, 2, 3])], outputs: ["y"], nodes: [
            .init(type: "MatMul", inputs: ["x", "W"], outputs: ["m"]),
            .init(type: "Add", inputs: ["m", "b"], outputs: ["a"]),
            .init(type: "Mul", inputs: ["a", "s"], outputs: ["scaled"]),
            .init(type: "Constant", inputs: [], outputs: ["two"], tensors: ["value": .init(shape: [], values: [2])]),
            .init(type: "Mul", inputs: ["scaled", "two"], outputs: ["y"]),
        ], floatInitializers: ["W": .init(shape: [3, 4], values: w), "b": .init(shape: [4], values: [1, 2, 3, 4]),
                               "s": .init(shape: [4], values: [1, -1, 0.5, 2])]).data
        let graph = try ONNXImporter.load(data: model)
        XCTAssertEqual(Set(graph.parameters.map(\.name)), ["W", "b", "s"])
        let dense = try XCTUnwrap(graph.nodes.compactMap { $0.op as? Dense }.first)
        XCTAssertTrue(dense.appliesToLastAxis)
        XCTAssertEqual(dense.bias?.name, "b", "the bias Add joined the Dense layer")
        XCTAssertEqual(graph.nodes.filter { $0.op is Elementwise }.count, 2)
        let x = randomTensor([2, 2, 3], seed: 3)
        let y = try Executor(graph: graph).infer(x)
        XCTAssertEqual(y.shape, [2, 2, 4])
        let b: [Float] = [1, 2, 3, 4], s: [Float] = [1, -1, 0.5, 2]
        for row in 0..<4 {
            for j in 0..<4 {
                let product = (0..<3).reduce(Float(0)) { $0 + x.scalars[row * 3 + $1] * w[$1 * 4 + j] }
                XCTAssertEqual(y.scalars[row * 4 + j], (product + b[j]) * s[j] * 2, accuracy: 1e-5)
            }
        }
        // The scale trains: its gradient arrives through the Constant node.
        let executor = Executor(graph: graph)
        let trace = try executor.forward(x, context: ForwardContext(isTraining: true))
        _ = executor.backward(trace, gradient: Tensor(shape: y.shape, repeating: 1), computesParameterGradients: true, returning: [])
        let scale = try XCTUnwrap(graph.parameters.first { $0.name == "s" })
        XCTAssertTrue(scale.gradient.scalars.allSatisfy { $0 != 0 })
    }

    func testComputedWeightsAreAnError() throws {
        let model = ONNXModelWriter(inputs: [("x", [1, 1, 3, 3])], outputs: ["y"], nodes: [
            .init(type: "Conv", inputs: ["x", "x"], outputs: ["y"], name: "selfconv"),
        ]).data
        XCTAssertThrowsError(try ONNXImporter.load(data: model)) { error in
            XCTAssertTrue("\(error)".contains("selfconv") && "\(error)".contains("must be constant"), "\(error)")
        }
    }

    /// External data (weights past protobuf's 2 GB) is read from the model's folder, and only
    /// from files inside it.
    func testExternalDataIsReadBesideTheModelFile() throws {
        let writer = ONNXModelWriter(inputs: [("x", [1, 4])], outputs: ["y"], nodes: [
            .init(type: "Add", inputs: ["x", "b"], outputs: ["y"]),
        ], externalInitializer: "b")
        XCTAssertThrowsError(try ONNXImporter.load(data: writer.data)) { error in
            XCTAssertTrue("\(error)".contains("external") && "\(error)".contains("file"), "\(error)")
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("external-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = folder.appendingPathComponent("model.onnx")
        try writer.data.write(to: model)
        try Data([Float](arrayLiteral: 1, 2, 3, 4).flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } })
            .write(to: folder.appendingPathComponent("weights.bin"))
        let graph = try ONNXImporter.load(contentsOf: model)
        XCTAssertEqual(try Executor(graph: graph).infer(Tensor(shape: [1, 4], repeating: 1)).scalars, [2, 3, 4, 5])

        try Data([0, 0, 128, 63]).write(to: folder.appendingPathComponent("short.bin"))
        for (location, expected) in [("../weights.bin", "model's folder"), ("/etc/passwd", "model's folder"),
                                     ("missing.bin", "cannot read"), ("short.bin", "4 bytes")] {
            var hostile = writer
            hostile.externalLocation = location
            try hostile.data.write(to: model)
            XCTAssertThrowsError(try ONNXImporter.load(contentsOf: model), location) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(location): \(error)")
            }
        }
    }

    func testCorruptFilesAreErrors() throws {
        let model = ONNXModelWriter(inputs: [("x", [1, 4])], outputs: ["y"], nodes: [
            .init(type: "Relu", inputs: ["x"], outputs: ["y"]),
        ]).data
        XCTAssertNoThrow(try ONNXImporter.load(data: model))
        for cut in stride(from: 1, to: model.count, by: 3) {
            _ = try? ONNXImporter.load(data: model.prefix(cut))
        }
        XCTAssertThrowsError(try ONNXImporter.load(data: Data("not a model at all".utf8)))
        XCTAssertThrowsError(try ONNXImporter.load(data: Data([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F])))
    }

    /// Shape -> Gather -> Unsqueeze -> Concat -> Reshape folds at load time, and the batch
    /// size stays free.
    func testShapeSubgraphFoldsAndKeepsTheBatchFree() throws {
        let model = ONNXModelWriter(inputs: [("x", [nil, 2, 3])], outputs: ["y"], nodes: [
            .init(type: "Shape", inputs: ["x"], outputs: ["s"]),
            .init(type: "Gather", inputs: ["s", "zero"], outputs: ["n"]),
            .init(type: "Unsqueeze", inputs: ["n"], outputs: ["n1"], ints: ["axes": [0]]),
            .init(type: "Concat", inputs: ["n1", "minus_one"], outputs: ["target"], ints: ["axis": [0]]),
            .init(type: "Reshape", inputs: ["x", "target"], outputs: ["y"]),
        ], int64Initializers: ["zero": ([], [0]), "minus_one": ([1], [-1])], opset: 11).data
        let graph = try ONNXImporter.load(data: model)
        XCTAssertEqual(graph.nodes.map(\.op.kind), ["reshape"])
        let x = Tensor(shape: [3, 2, 3], scalars: (0..<18).map(Float.init))
        let y = try Executor(graph: graph).infer(x)
        XCTAssertEqual(y.shape, [3, 6])
        XCTAssertEqual(y.scalars, x.scalars)
    }

    /// Opset 18 moved ReduceMean's axes and Pad's axes to inputs and gave Split num_outputs.
    func testOpset18InputForms() throws {
        let model = ONNXModelWriter(inputs: [("x", [nil, 2, 4])], outputs: ["y"], nodes: [
            .init(type: "ReduceMean", inputs: ["x", "last"], outputs: ["mean"], int: ["keepdims": 1]),
            .init(type: "Split", inputs: ["x"], outputs: ["a", "b"], int: ["axis": 2, "num_outputs": 2]),
            .init(type: "Sub", inputs: ["a", "b"], outputs: ["d"]),
            .init(type: "Mul", inputs: ["d", "mean"], outputs: ["scaled"]),
            .init(type: "Pad", inputs: ["scaled", "pads", "", "last"], outputs: ["y"]),
        ], int64Initializers: ["last": ([1], [2]), "pads": ([2], [1, 1])], opset: 18).data
        let graph = try ONNXImporter.load(data: model)
        let sample: [Float] = [0, 1, 2, 3, 4, 5, 6, 7]
        let expected: [Float] = [0, -3, -3, 0, 0, -11, -11, 0]
        let y = try Executor(graph: graph).infer(Tensor(shape: [2, 2, 4], scalars: sample + sample))
        XCTAssertEqual(y.shape, [2, 2, 4])
        XCTAssertEqual(y.scalars, expected + expected)
    }

    func testImportedModelRunsAtAnyBatchSize() throws {
        let root = try ONNXTestData.sharedFolder("onnx-light")
        let options = ONNXImportOptions(constantOfShapeValue: ONNXModelZooTests.closedFormWeights)
        let graph = try ONNXImporter.load(contentsOf: root.appendingPathComponent("light_squeezenet.onnx"), options: options)
        var random = RandomSource(seed: 3)
        let samples = (0..<2).map { _ in Tensor(shape: [1, 3, 224, 224], scalars: (0..<3 * 224 * 224).map { _ in random.nextUniform() }) }
        let executor = Executor(graph: graph)
        let batch = try executor.infer(Tensor(shape: [2, 3, 224, 224], scalars: samples[0].scalars + samples[1].scalars))
        for (i, sample) in samples.enumerated() {
            let single = try executor.infer(sample)
            let row = Tensor(shape: single.shape, scalars: Array(batch.scalars[(i * single.count)..<((i + 1) * single.count)]))
            assertClose(row, single, rtol: 1e-4, atol: 1e-6, "sample \(i)")
        }
    }

    /// What `salient inspect model.onnx` shows: ResNet-50's 25.6 M parameters and 4.1 G MACs.
    func testImportedModelAnalysis() throws {
        let root = try ONNXTestData.sharedFolder("onnx-light")
        let graph = try ONNXImporter.load(path: root.appendingPathComponent("light_resnet50.onnx").path)
        let analysis = try ModelAnalysis(graph: graph)
        XCTAssertEqual(analysis.trainableParams, 25_557_032, "conv and FC weights, BatchNorm scale and shift")
        XCTAssertEqual(Double(analysis.totalMacs) / 1e9, 4.1, accuracy: 0.1)
    }

    /// Conv and Gemm weights arrive as Parameters that backward writes gradients into.
    func testImportedWeightsAreTrainableParameters() throws {
        let url = ONNXTestData.backend.appendingPathComponent("pytorch-converted/test_Conv2d/model.onnx")
        guard FileManager.default.fileExists(atPath: url.path) else { throw XCTSkip("libonnx-testdata not installed") }
        let graph = try ONNXImporter.load(contentsOf: url)
        let conv = try XCTUnwrap(graph.nodes.first { $0.op is Conv2D }?.op as? Conv2D)
        XCTAssertTrue(conv.weight.isTrainable)
        let x = Tensor(shape: [1] + graph.inputShape, repeating: 0.5)
        let executor = Executor(graph: graph)
        let trace = try executor.forward(x, context: ForwardContext(isTraining: true))
        let gradients = executor.backward(trace, gradient: Tensor(shape: trace.output.shape, repeating: 1),
                                          computesParameterGradients: true)
        XCTAssertNotNil(gradients[graph.inputName])
        XCTAssertGreaterThan(conv.weight.gradient.scalars.map(abs).max() ?? 0, 0)
    }
}

/// TensorProto decoding: raw and typed storage, float32, float16 and int64.
final class ONNXTensorTests: XCTestCase {
    private func tensorProto(dims: [Int], type: UInt64, build: (inout ProtoBytes) -> Void) -> Data {
        var t = ProtoBytes()
        dims.forEach { t.varint(1, UInt64($0)) }
        t.varint(2, type)
        build(&t)
        t.string(8, "t")
        return Data(t.bytes)
    }

    func testFloat32RawAndTyped() throws {
        let raw = tensorProto(dims: [2], type: 1) { t in
            var bytes = ProtoBytes()
            bytes.bytes = [Float(1.5), -2].withUnsafeBytes { Array($0) }
            t.message(9, bytes)
        }
        XCTAssertEqual(try ONNXTensor(serializedData: raw).tensor.scalars, [1.5, -2])
        let typed = tensorProto(dims: [1, 2], type: 1) { t in
            for v in [Float(3), 4] { t.fixed32(4, v.bitPattern) }
        }
        let tensor = try ONNXTensor(serializedData: typed)
        XCTAssertEqual(tensor.shape, [1, 2])
        XCTAssertEqual(tensor.tensor.scalars, [3, 4])
    }

    func testFloat16RawAndTyped() throws {
        let halves: [Float16] = [1, -0.5, 65504]
        let raw = tensorProto(dims: [3], type: 10) { t in
            var bytes = ProtoBytes()
            bytes.bytes = halves.withUnsafeBytes { Array($0) }
            t.message(9, bytes)
        }
        XCTAssertEqual(try ONNXTensor(serializedData: raw).tensor.scalars, [1, -0.5, 65504])
        let typed = tensorProto(dims: [3], type: 10) { t in
            halves.forEach { t.varint(5, UInt64($0.bitPattern)) }
        }
        XCTAssertEqual(try ONNXTensor(serializedData: typed).tensor.scalars, [1, -0.5, 65504])
    }

    func testInt64RawAndTyped() throws {
        let raw = tensorProto(dims: [2], type: 7) { t in
            var bytes = ProtoBytes()
            bytes.bytes = [Int64(-3), 1 << 40].withUnsafeBytes { Array($0) }
            t.message(9, bytes)
        }
        XCTAssertEqual(try ONNXTensor(serializedData: raw).elements, .int64([-3, 1 << 40]))
        let typed = tensorProto(dims: [2], type: 7) { t in
            [Int64(7), -1].forEach { t.varint(7, UInt64(bitPattern: $0)) }
        }
        XCTAssertEqual(try ONNXTensor(serializedData: typed).elements, .int64([7, -1]))
    }

    func testSizeMismatchAndUnsupportedTypesAreErrors() throws {
        let short = tensorProto(dims: [3], type: 1) { t in
            var bytes = ProtoBytes()
            bytes.bytes = [0, 0, 0, 0]
            t.message(9, bytes)
        }
        XCTAssertThrowsError(try ONNXTensor(serializedData: short)) { XCTAssertTrue("\($0)".contains("12"), "\($0)") }
        XCTAssertThrowsError(try ONNXTensor(serializedData: tensorProto(dims: [1], type: 8) { $0.string(6, "x") }))
        XCTAssertThrowsError(try ONNXTensor(serializedData: tensorProto(dims: [1 << 40], type: 1) { _ in }))
    }

    func testSerializedDataRoundTrips() throws {
        let tensor = ONNXTensor(name: "w", Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]))
        XCTAssertEqual(try ONNXTensor(serializedData: tensor.serializedData()), tensor)
    }
}
