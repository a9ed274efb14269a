import CNN
import Foundation
import XCTest

final class GraphTests: XCTestCase {
    /// A residual block and an inception-style concat, with batchnorm and dropout.
    static let dag = #"{"name":"dag","input":{"channels":3,"height":12,"width":10},"layers":[{"type":"conv2d","name":"stem","filters":8,"kernel":3,"padding":"same","activation":"relu"},{"type":"batchnorm","name":"bn"},{"type":"conv2d","name":"branch","filters":8,"kernel":3,"padding":"same"},{"type":"add","name":"residual","inputs":["bn","branch"]},{"type":"relu","name":"act"},{"type":"conv2d","name":"left","inputs":["act"],"filters":4,"kernel":1},{"type":"depthwise_conv2d","name":"right","inputs":["act"],"kernel":3,"stride":2,"padding":"same"},{"type":"maxpool2d","name":"pool","inputs":["left"],"kernel":2},{"type":"concat","name":"joined","inputs":["pool","right"]},{"type":"global_avgpool"},{"type":"flatten"},{"type":"dropout","rate":0.2},{"type":"dense","units":5}]}"#

    func graph() throws -> Graph { try Architecture(json: Data(Self.dag.utf8)).makeGraph(seed: 3) }

    func testPlannedInferenceMatchesTracedForwardAndIsRepeatable() throws {
        let g = try graph()
        let x = randomTensor([2, 3, 12, 10], seed: 4)
        let executor = Executor(graph: g)
        let planned = try executor.infer(x)
        let again = try executor.infer(x)
        let traced = try executor.forward(x, context: ForwardContext(isTraining: false)).output
        XCTAssertEqual(planned.shape, [2, 5])
        XCTAssertEqual(planned, again)
        XCTAssertEqual(planned.scalars, traced.scalars)
        let single = try executor.infer(x.reshaped(to: [2, 360]).batchRow(1).reshaped(to: [1, 3, 12, 10]))
        for (a, b) in zip(single.scalars, planned.scalars[5...]) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    private func conv(_ seed: UInt64, _ filters: Int, from channels: Int) -> Conv2D {
        Conv2D(weight: Parameter(name: "w\(seed)", value: randomTensor([filters, channels, 1, 1], seed: seed)), bias: nil)
    }

    /// Planned inference of 3x5x5 inputs at batch 1 and 2 against the traced forward.
    private func assertPlannedMatchesTraced(_ executor: Executor, file: StaticString = #filePath, line: UInt = #line) throws {
        for batch in [1, 2] {
            let x = randomTensor([batch, 3, 5, 5], seed: 4)
            XCTAssertEqual(try executor.infer(x).scalars,
                           try executor.forward(x, context: ForwardContext(isTraining: false)).output.scalars,
                           "batch \(batch)", file: file, line: line)
        }
    }

    /// At batch 1 the nodes a Concat joins write straight into its region of the buffer; at
    /// batch 2, where their slices are not contiguous, each has a region and the Concat copies.
    func testNodesWriteIntoTheConcatThatJoinsThem() throws {
        let g = try Graph(name: "joined", inputShape: [3, 5, 5], nodes: [
            Node(name: "a", op: conv(1, 8, from: 3), inputs: ["input"]),
            Node(name: "b", op: conv(2, 8, from: 3), inputs: ["input"]),
            Node(name: "pool", op: MaxPool2D(kernel: (1, 1)), inputs: ["input"]),
            Node(name: "cat", op: Concat(axis: 1), inputs: ["a", "pool", "b"]),
            Node(name: "c", op: conv(3, 4, from: 19), inputs: ["cat"]),
        ])
        let executor = Executor(graph: g)
        try assertPlannedMatchesTraced(executor)
        // Channels planned: the Concat's 19 and c's 4 at batch 1; 8 + 8 + 3 + 19 per image at
        // batch 2 (c in one of the convolutions' regions).
        XCTAssertEqual(try executor.memory(for: [1, 3, 5, 5]).plannedBytes, 4 * 25 * (19 + 4))
        XCTAssertEqual(try executor.memory(for: [2, 3, 5, 5]).plannedBytes, 4 * 2 * 25 * (8 + 8 + 3 + 19))
    }

    /// DenseNet's blocks join every earlier feature map again for each layer: each Concat is the
    /// start of the last one's output, every feature map is written there once, and the graph's
    /// input, which a Concat cannot be written by, is copied once. Concats that extend one start
    /// in two ways (no chain) still copy what they share.
    func testConcatsThatRepeatALongerOnesStartShareItsOutput() throws {
        let chain = try Graph(name: "dense", inputShape: [3, 5, 5], nodes: [
            Node(name: "x0", op: conv(1, 4, from: 3), inputs: ["input"]),
            Node(name: "c1", op: Concat(axis: 1), inputs: ["x0", "input"]),
            Node(name: "f1", op: conv(2, 2, from: 7), inputs: ["c1"]),
            Node(name: "c2", op: Concat(axis: 1), inputs: ["x0", "input", "f1"]),
            Node(name: "f2", op: conv(3, 2, from: 9), inputs: ["c2"]),
            Node(name: "c3", op: Concat(axis: 1), inputs: ["x0", "input", "f1", "f2"]),
            Node(name: "out", op: conv(4, 3, from: 11), inputs: ["c3"]),
        ])
        let executor = Executor(graph: chain)
        try assertPlannedMatchesTraced(executor)
        XCTAssertEqual(try executor.memory(for: [1, 3, 5, 5]).plannedBytes, 4 * 25 * (11 + 3))

        let fork = try Graph(name: "fork", inputShape: [3, 5, 5], nodes: [
            Node(name: "a", op: conv(1, 4, from: 3), inputs: ["input"]),
            Node(name: "b", op: conv(2, 2, from: 3), inputs: ["input"]),
            Node(name: "ab", op: Concat(axis: 1), inputs: ["a", "b"]),
            Node(name: "x", op: conv(3, 2, from: 6), inputs: ["ab"]),
            Node(name: "y", op: conv(4, 1, from: 6), inputs: ["ab"]),
            Node(name: "abx", op: Concat(axis: 1), inputs: ["a", "b", "x"]),
            Node(name: "aby", op: Concat(axis: 1), inputs: ["a", "b", "y"]),
            Node(name: "left", op: conv(5, 2, from: 8), inputs: ["abx"]),
            Node(name: "right", op: conv(6, 2, from: 7), inputs: ["aby"]),
            Node(name: "out", op: Concat(axis: 1), inputs: ["left", "right"]),
        ])
        try assertPlannedMatchesTraced(Executor(graph: fork))
    }

    /// A model file can hold hundreds of Concats that each repeat a longer and longer start, and
    /// list one input many times (the shape of an attack on a planner that compares every pair
    /// of Concats; this one walks a trie of their inputs): planned inference still matches the
    /// traced forward, and every Concat is still a view of the longest, where each new feature
    /// map is written and the repeated input copied, as in DenseNet.
    func testHundredsOfConcatsRepeatingOneStartStillPlanAsOne() throws {
        var nodes = [Node(name: "x0", op: conv(1, 2, from: 3), inputs: ["input"])]
        var inputs: [String] = [], channels = 0
        for layer in 1...200 {
            let next = layer % 2 == 1 ? "x0" : "f\(layer - 1)"
            inputs.append(next)
            channels += next == "x0" ? 2 : 1
            nodes.append(Node(name: "c\(layer)", op: Concat(axis: 1), inputs: inputs))
            if layer < 200 {
                nodes.append(Node(name: "f\(layer)", op: conv(UInt64(layer + 1), 1, from: channels), inputs: ["c\(layer)"]))
            }
        }
        let executor = Executor(graph: try Graph(name: "repeats", inputShape: [3, 5, 5], nodes: nodes))
        try assertPlannedMatchesTraced(executor)
        // Views need the longest Concat's channels and a few small maps (each image a plane of
        // 25); copies of every Concat would need two Concats at once (2.3 times this bound).
        XCTAssertLessThan(try executor.memory(for: [1, 3, 5, 5]).plannedBytes, 4 * 25 * (channels + channels / 2))
    }

    /// A Reshape or Flatten shares its input's storage, which must then outlive every name it
    /// has: here "a" is last read by name before "b" is computed, but still read through "back".
    func testReshapesShareStorageThatLivesUntilTheirLastRead() throws {
        let g = try Graph(name: "reshaped", inputShape: [3, 5, 5], nodes: [
            Node(name: "a", op: conv(1, 8, from: 3), inputs: ["input"]),
            Node(name: "flat", op: Flatten(), inputs: ["a"]),
            Node(name: "b", op: conv(2, 8, from: 3), inputs: ["input"]),
            Node(name: "back", op: Reshape([0, 8, 5, 5]), inputs: ["flat"]),
            Node(name: "sum", op: Elementwise(.add), inputs: ["back", "b"]),
            Node(name: "c", op: conv(3, 4, from: 8), inputs: ["sum"]),
        ])
        let executor = Executor(graph: g)
        try assertPlannedMatchesTraced(executor)
    }

    /// d output[class] / d input of the whole DAG against finite differences, as saliency uses it.
    func testBackwardToInputMatchesFiniteDifferences() throws {
        let g = try graph()
        let executor = Executor(graph: g)
        let x = randomTensor([1, 3, 12, 10], seed: 5)
        let trace = try executor.forward(x, context: ForwardContext(isTraining: false))
        var seed = Tensor(zeros: [1, 5])
        seed.scalars[2] = 1
        let gradient = executor.backward(trace, gradient: seed, computesParameterGradients: false)[g.inputName]!
        XCTAssertEqual(gradient.shape, x.shape)
        var compared = 0
        for i in stride(from: 0, to: x.count, by: 7) {
            let h: Float = 1e-2
            var plus = x, minus = x
            plus.scalars[i] += h
            minus.scalars[i] -= h
            let numeric = (try executor.infer(plus).scalars[2] - executor.infer(minus).scalars[2]) / (2 * h)
            if abs(numeric - gradient.scalars[i]) <= 2e-2 * max(1, abs(numeric)) { compared += 1 }
        }
        // ReLU and max-pool kinks may spoil a few finite differences; the rest must agree.
        XCTAssertGreaterThanOrEqual(compared * 10, (x.count / 7 + 1) * 9)
        for p in g.parameters { XCTAssertEqual(p.gradient.sum(), 0, "saliency must not write parameter gradients") }
    }

    /// Asking for some gradients only skips work and releases memory, but changes no gradient.
    func testBackwardReturningOnlyWantedGradientsMatchesTheFullPass() throws {
        let g = try graph()
        let executor = Executor(graph: g)
        let trace = try executor.forward(randomTensor([2, 3, 12, 10], seed: 6), context: ForwardContext(isTraining: false))
        let seed = randomTensor([2, 5], seed: 7)
        let full = executor.backward(trace, gradient: seed, computesParameterGradients: false)
        let wanted = executor.backward(trace, gradient: seed, computesParameterGradients: false, returning: [g.inputName, "left"])
        XCTAssertEqual(Set(wanted.keys), [g.inputName, "left"])
        XCTAssertEqual(wanted[g.inputName], full[g.inputName])
        XCTAssertEqual(wanted["left"], full["left"])

        func parameterGradients(returning names: Set<String>?) -> [Tensor] {
            for p in g.parameters { p.zeroGradient() }
            XCTAssertEqual(executor.backward(trace, gradient: seed, computesParameterGradients: true, returning: names).isEmpty,
                           names?.isEmpty ?? false)
            return g.parameters.map(\.gradient)
        }
        XCTAssertEqual(parameterGradients(returning: []), parameterGradients(returning: nil))
        // A frozen stem is skipped: its gradients stay zero, every other one is unchanged.
        let all = parameterGradients(returning: nil)
        let stem = try XCTUnwrap(g.node(named: "stem")).op.parameters
        for p in stem { p.isTrainable = false }
        let frozen = parameterGradients(returning: [])
        for (index, p) in g.parameters.enumerated() {
            if stem.contains(where: { $0 === p }) {
                XCTAssertEqual(frozen[index].sum(), 0, p.name)
            } else {
                XCTAssertEqual(frozen[index], all[index], p.name)
            }
        }
    }

    /// Conv and max-pool backward split im2col, col2im and windows across the engine's threads;
    /// the split must not change any gradient.
    func testBackwardGradientsDoNotDependOnTheThreadCount() throws {
        let architecture = #"{"name":"t","input":{"channels":8,"height":64,"width":64},"layers":[{"type":"conv2d","filters":8,"kernel":3,"padding":"same","activation":"relu"},{"type":"maxpool2d","kernel":2},{"type":"conv2d","filters":4,"kernel":3},{"type":"global_avgpool"},{"type":"flatten"},{"type":"dense","units":3}]}"#
        let g = try Architecture(json: Data(architecture.utf8)).makeGraph(seed: 1)
        let x = randomTensor([2, 8, 64, 64], seed: 2)
        let previous = EngineThreads.count
        defer { EngineThreads.set(previous) }
        func gradients(threads: Int) throws -> [Tensor] {
            EngineThreads.set(threads)
            for p in g.parameters { p.zeroGradient() }
            let executor = Executor(graph: g)
            let trace = try executor.forward(x, context: ForwardContext(isTraining: false))
            let input = executor.backward(trace, gradient: randomTensor([2, 3], seed: 3), computesParameterGradients: true,
                                          returning: [g.inputName])[g.inputName]!
            return [input] + g.parameters.map(\.gradient)
        }
        let (one, two) = (try gradients(threads: 1), try gradients(threads: 2))
        for (a, b) in zip(one, two) {
            XCTAssertEqual(a.shape, b.shape)
            for (u, v) in zip(a.scalars, b.scalars) { XCTAssertEqual(u, v, accuracy: 1e-4 * max(1, abs(u))) }
        }
    }

    /// Requests infer on several threads at once: one owns the engine's workers and the others
    /// run their loops inline. Every result must match the same input inferred alone.
    func testConcurrentInferencesShareTheEngineThreads() throws {
        let architecture = #"{"name":"t","input":{"channels":3,"height":48,"width":48},"layers":[{"type":"conv2d","filters":16,"kernel":3,"padding":"same","activation":"relu"},{"type":"conv2d","filters":16,"kernel":3,"padding":"same","activation":"relu"},{"type":"maxpool2d","kernel":2},{"type":"conv2d","filters":8,"kernel":1},{"type":"global_avgpool"},{"type":"flatten"},{"type":"dense","units":5}]}"#
        let g = try Architecture(json: Data(architecture.utf8)).makeGraph(seed: 4)
        let previous = EngineThreads.count
        defer { EngineThreads.set(previous) }
        EngineThreads.set(2)
        let inputs = (0..<8).map { randomTensor([1, 3, 48, 48], seed: UInt64(10 + $0)) }
        let alone = try inputs.map { try Executor(graph: g).infer($0) }
        let lock = NSLock()
        var (runs, mismatches) = (0, 0)
        DispatchQueue.concurrentPerform(iterations: inputs.count * 4) { i in
            let executor = Executor(graph: g)
            for _ in 0..<3 {
                let output = try? executor.infer(inputs[i % inputs.count])
                lock.withLock {
                    runs += 1
                    if output?.scalars != alone[i % inputs.count].scalars { mismatches += 1 }
                }
            }
        }
        XCTAssertEqual(runs, inputs.count * 12)
        XCTAssertEqual(mismatches, 0)
    }

    func testGraphErrorsNameTheNode() {
        XCTAssertThrowsError(try Graph(name: "g", inputShape: [1, 4, 4], nodes: [
            Node(name: "a", op: Elementwise(.add), inputs: ["b"]), Node(name: "b", op: Elementwise(.add), inputs: ["a"]),
        ])) { XCTAssertTrue("\($0)".contains("cycle"), "\($0)") }
        XCTAssertThrowsError(try Graph(name: "g", inputShape: [1, 4, 4], nodes: [
            Node(name: "d", op: Dense(weight: Parameter(name: "w", value: Tensor(zeros: [2, 3])), bias: nil), inputs: ["input"]),
        ])) { XCTAssertTrue("\($0)".contains("'d'"), "\($0)") }
        let g = try! graph()
        XCTAssertThrowsError(try Executor(graph: g).infer(Tensor(zeros: [1, 3, 10, 10])))
    }

    func testCheckpointRoundTrip() throws {
        let g = try graph()
        let trainer = Trainer(graph: g, optimizer: SGD(groups: [ParameterGroup(name: "all", parameters: g.parameters)]))
        try trainer.step(LabeledImages(images: randomTensor([4, 3, 12, 10], seed: 6), labels: [0, 1, 2, 3]), learningRate: 0.1)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoint-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let card = ModelCard(name: "dag", architecture: try Architecture(json: Data(Self.dag.utf8)), labels: ["a", "b", "c", "d", "e"])
        try Checkpoint.save(graph: g, card: card, to: directory)
        let loaded = try Checkpoint.load(from: directory)
        XCTAssertEqual(loaded.card.labels, card.labels)
        let x = randomTensor([1, 3, 12, 10], seed: 7)
        XCTAssertEqual(try Executor(graph: g).infer(x), try Executor(graph: loaded.graph).infer(x))
        let bn = g.node(named: "bn")!.op as! BatchNorm
        XCTAssertNotEqual(bn.runningMean.value.sum(), 0, "a training step updates running statistics")
        XCTAssertEqual((loaded.graph.node(named: "bn")!.op as! BatchNorm).runningMean.value, bn.runningMean.value)
    }

    func testSafetensorsRefusesMalformedFiles() throws {
        let good = try Safetensors.encode(["w": Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])])
        XCTAssertEqual(try Safetensors.decode(good)["w"]?.scalars, [1, 2, 3, 4])
        XCTAssertThrowsError(try Safetensors.decode(good.prefix(5)))
        XCTAssertThrowsError(try Safetensors.decode(good.dropLast(4)))
        var huge = good
        huge[0] = 0xFF
        huge[7] = 0x7F
        XCTAssertThrowsError(try Safetensors.decode(huge))
        let lying = Data(#"{"w":{"dtype":"F32","shape":[1000000000000,1000000000],"data_offsets":[0,16]}}"#.utf8)
        var file = Data([UInt8(lying.count), 0, 0, 0, 0, 0, 0, 0])
        file.append(lying)
        file.append(Data(count: 16))
        XCTAssertThrowsError(try Safetensors.decode(file))
    }
}

extension Tensor {
    /// Row `i` of a matrix, as a [1, columns] tensor.
    func batchRow(_ i: Int) -> Tensor {
        let columns = shape[1]
        return Tensor(shape: [1, columns], scalars: Array(scalars[(i * columns)..<((i + 1) * columns)]))
    }
}

final class InferenceOptimizerTests: XCTestCase {
    func testFoldingAndFusionKeepTheFunction() throws {
        let json = #"{"name":"f","input":{"channels":3,"height":9,"width":9},"layers":[{"type":"conv2d","name":"c1","filters":6,"kernel":3,"padding":"same"},{"type":"batchnorm","name":"b1"},{"type":"relu","name":"r1"},{"type":"conv2d","name":"c2","filters":6,"kernel":3,"stride":2,"use_bias":false},{"type":"batchnorm","name":"b2"},{"type":"relu6","name":"r2"},{"type":"add","name":"sum","inputs":["r2","r2"]},{"type":"flatten"},{"type":"dense","name":"d","units":8},{"type":"relu","name":"r3"},{"type":"dense","units":3}]}"#
        let graph = try Architecture(json: Data(json.utf8)).makeGraph(seed: 2)
        var random = RandomSource(seed: 5)
        for bn in graph.nodes.compactMap({ $0.op as? BatchNorm }) {
            bn.runningMean.value = bn.runningMean.value.map { _ in random.nextNormal() }
            bn.runningVariance.value = bn.runningVariance.value.map { _ in 0.5 + random.nextUniform() }
            bn.scale.value = bn.scale.value.map { _ in random.nextNormal() }
            bn.shift.value = bn.shift.value.map { _ in random.nextNormal() }
        }
        let optimized = try graph.optimizedForInference()
        XCTAssertEqual(optimized.nodes.map(\.name), ["r1", "r2", "sum", "flatten8", "r3", "dense11"])
        XCTAssertEqual(optimized.nodes.filter { $0.op is BatchNorm }.count, 0)
        let x = randomTensor([2, 3, 9, 9], seed: 6)
        let expected = try Executor(graph: graph).infer(x)
        let actual = try Executor(graph: optimized).infer(x)
        for (a, b) in zip(actual.scalars, expected.scalars) { XCTAssertEqual(a, b, accuracy: 1e-4) }
        XCTAssertEqual(graph.nodes.count, 11, "the original graph is untouched")
    }

    /// ResNet's blocks: Add(BatchNorm(conv(x)), shortcut) then ReLU becomes one convolution with
    /// a second input, in inference, backward and ONNX export alike.
    func testResidualAddFusesIntoTheConvolution() throws {
        func conv(_ seed: UInt64, kernel: Int) -> Conv2D {
            Conv2D(weight: Parameter(name: "w\(seed)", value: randomTensor([4, 3, kernel, kernel], seed: seed)),
                   bias: Parameter(name: "b\(seed)", value: randomTensor([4], seed: seed + 1)),
                   padding: .explicit(top: kernel / 2, left: kernel / 2, bottom: kernel / 2, right: kernel / 2))
        }
        let bn = BatchNorm(name: "bn", channels: 4)
        bn.runningVariance.value = Tensor(shape: [4], scalars: [0.5, 2, 1, 3])
        bn.shift.value = Tensor(shape: [4], scalars: [0.3, -0.2, 0.1, 0])
        let graph = try Graph(name: "block", inputShape: [3, 7, 7], nodes: [
            Node(name: "main", op: conv(1, kernel: 3), inputs: ["input"]),
            Node(name: "bn", op: bn, inputs: ["main"]),
            Node(name: "shortcut", op: conv(3, kernel: 1), inputs: ["input"]),
            Node(name: "sum", op: Elementwise(.add), inputs: ["bn", "shortcut"]),
            Node(name: "relu", op: ActivationLayer(.relu), inputs: ["sum"]),
        ], outputName: "relu")
        let optimized = try graph.optimizedForInference()
        XCTAssertEqual(optimized.nodes.map(\.name), ["bn", "relu"])
        XCTAssertEqual(optimized.nodes.last?.inputs, ["input", "bn"], "the later convolution adds the earlier one")

        let x = randomTensor([2, 3, 7, 7], seed: 5)
        let expected = try Executor(graph: graph).infer(x)
        XCTAssertGreaterThan(expected.scalars.filter { $0 == 0 }.count, 0, "the ReLU clips something")
        assertClose(try Executor(graph: optimized).infer(x), expected, rtol: 1e-5, atol: 1e-5, "fused")
        let reimported = try ONNXImporter.load(data: try ONNXExporter.export(optimized))
        assertClose(try Executor(graph: reimported).infer(x), expected, rtol: 1e-5, atol: 1e-5, "exported")

        let g = randomTensor(expected.shape, seed: 6)
        assertClose(try inputGradient(of: optimized, input: x, outputGradient: g), try inputGradient(of: graph, input: x, outputGradient: g), rtol: 1e-4, atol: 1e-5, "input gradient")
    }

    /// EfficientNet's swish as exported (Sigmoid, then Mul with the Sigmoid's input) and
    /// MobileNetV3's hard swish as older exports write it (HardSigmoid 1/6, 0.5 and Mul) each
    /// become an activation of the convolution before them, in inference and backward alike;
    /// a gate whose Mul reads another tensor (squeeze-and-excitation) stays.
    func testGatedActivationsFuseIntoTheConvolution() throws {
        func conv(_ seed: UInt64, _ cin: Int, _ cout: Int) -> Conv2D {
            Conv2D(weight: Parameter(name: "w\(seed)", value: randomTensor([cout, cin, 3, 3], seed: seed)),
                   bias: Parameter(name: "b\(seed)", value: randomTensor([cout], seed: seed + 1)),
                   padding: .explicit(top: 1, left: 1, bottom: 1, right: 1))
        }
        let graph = try Graph(name: "gates", inputShape: [3, 7, 6], nodes: [
            Node(name: "c1", op: conv(1, 3, 4), inputs: ["input"]),
            Node(name: "s1", op: ActivationLayer(.sigmoid), inputs: ["c1"]),
            Node(name: "swish", op: Elementwise(.mul), inputs: ["c1", "s1"]),
            Node(name: "c2", op: conv(3, 4, 4), inputs: ["swish"]),
            Node(name: "h2", op: ActivationLayer(.hardSigmoid(alpha: 1 / 6, beta: 0.5)), inputs: ["c2"]),
            Node(name: "hswish", op: Elementwise(.mul), inputs: ["h2", "c2"]),
            Node(name: "c3", op: conv(5, 4, 4), inputs: ["hswish"]),
            Node(name: "s3", op: ActivationLayer(.sigmoid), inputs: ["c3"]),
            Node(name: "gated", op: Elementwise(.mul), inputs: ["hswish", "s3"]),
        ], outputName: "gated")
        let optimized = try graph.optimizedForInference()
        XCTAssertEqual(optimized.nodes.map(\.name), ["swish", "hswish", "s3", "gated"])
        XCTAssertEqual((optimized.nodes[0].op as? Conv2D)?.activation, .silu)
        XCTAssertEqual((optimized.nodes[1].op as? Conv2D)?.activation, .hardSwish)

        let x = randomTensor([2, 3, 7, 6], seed: 7)
        let expected = try Executor(graph: graph).infer(x)
        // x / (1 + e^-x) and x · (1 / (1 + e^-x)) differ by an ulp, which three random convolutions amplify.
        assertClose(try Executor(graph: optimized).infer(x), expected, rtol: 1e-4, atol: 1e-4, "fused")
        let reimported = try ONNXImporter.load(data: try ONNXExporter.export(optimized))
        assertClose(try Executor(graph: reimported).infer(x), expected, rtol: 1e-4, atol: 1e-4, "exported")

        let g = randomTensor(expected.shape, seed: 8)
        assertClose(try inputGradient(of: optimized, input: x, outputGradient: g), try inputGradient(of: graph, input: x, outputGradient: g), rtol: 1e-3, atol: 1e-4, "input gradient")
    }

    /// Layer normalization as PyTorch exports it before opset 17 (ReduceMean, Sub, Pow 2,
    /// ReduceMean, Add epsilon, Sqrt, Div, Mul by the weight, Add of the bias), channels-last
    /// between Transposes as in ConvNeXt, becomes one LayerNorm holding the same weight and bias
    /// Parameters; one without a bias too; one whose centred input another node reads stays.
    func testSpelledOutLayerNormBecomesOneNode() throws {
        func scalar(_ name: String, _ value: Float) -> Node { Node(name: name, op: Constant(Tensor(shape: [], scalars: [value])), inputs: []) }
        func weight(_ name: String, seed: UInt64) -> Node {
            Node(name: name, op: Constant(weight: Parameter(name: name, value: randomTensor([4], seed: seed))), inputs: [])
        }
        func norm(_ p: String, _ x: String, bias: String?, epsilon: String = "eps") -> [Node] {
            [Node(name: "\(p)/mean", op: ReduceMean(axes: [-1]), inputs: [x]),
             Node(name: "\(p)/sub", op: Elementwise(.sub), inputs: [x, "\(p)/mean"]),
             Node(name: "\(p)/pow", op: Power(), inputs: ["\(p)/sub", "two"]),
             Node(name: "\(p)/var", op: ReduceMean(axes: [3]), inputs: ["\(p)/pow"]),
             Node(name: "\(p)/add", op: Elementwise(.add), inputs: ["\(p)/var", epsilon]),
             Node(name: "\(p)/sqrt", op: Pointwise(.sqrt), inputs: ["\(p)/add"]),
             Node(name: "\(p)/div", op: Elementwise(.div), inputs: ["\(p)/sub", "\(p)/sqrt"]),
             Node(name: "\(p)/mul", op: Elementwise(.mul), inputs: ["\(p)/div", "\(p).weight"])]
                + (bias.map { [Node(name: "\(p)/out", op: Elementwise(.add), inputs: ["\(p)/mul", $0])] } ?? [])
        }
        let conv = Conv2D(weight: Parameter(name: "w", value: randomTensor([4, 3, 3, 3], seed: 1)),
                          bias: Parameter(name: "b", value: randomTensor([4], seed: 2)),
                          padding: .explicit(top: 1, left: 1, bottom: 1, right: 1))
        var nodes = [Node(name: "c", op: conv, inputs: ["input"]), Node(name: "last", op: Transpose(permutation: [0, 2, 3, 1]), inputs: ["c"]),
                     scalar("two", 2), scalar("eps", 1e-6), scalar("eps5", 1e-5),
                     weight("n1.weight", seed: 3), weight("n1.bias", seed: 4), weight("n2.weight", seed: 5), weight("n3.weight", seed: 6)]
        nodes += norm("n1", "last", bias: "n1.bias")
        nodes += norm("n2", "n1/out", bias: nil, epsilon: "eps5")
        nodes += norm("n3", "n2/mul", bias: nil)
        nodes += [Node(name: "reads_centred", op: Elementwise(.add), inputs: ["n3/mul", "n3/sub"]),
                  Node(name: "first", op: Transpose(permutation: [0, 3, 1, 2]), inputs: ["reads_centred"])]
        let graph = try Graph(name: "norms", inputShape: [3, 5, 6], nodes: nodes, outputName: "first")
        let optimized = try graph.optimizedForInference()
        let first = try XCTUnwrap(optimized.node(named: "n1/out")?.op as? LayerNorm)
        XCTAssertEqual(optimized.node(named: "n1/out")?.inputs, ["last"])
        XCTAssertEqual(first.epsilon, 1e-6)
        XCTAssertEqual(first.axis, -1)
        XCTAssertTrue(first.scale === (graph.node(named: "n1.weight")?.op as? Constant)?.parameters.first, "the same weight trains")
        let second = try XCTUnwrap(optimized.node(named: "n2/mul")?.op as? LayerNorm)
        XCTAssertNil(second.shift)
        XCTAssertEqual(second.epsilon, 1e-5)
        XCTAssertNotNil(optimized.node(named: "n3/div"), "a normalization whose centred input is read elsewhere stays")

        let x = randomTensor([2, 3, 5, 6], seed: 7)
        let expected = try Executor(graph: graph).infer(x)
        assertClose(try Executor(graph: optimized).infer(x), expected, rtol: 1e-4, atol: 1e-5, "fused")
        let g = randomTensor(expected.shape, seed: 8)
        assertClose(try inputGradient(of: optimized, input: x, outputGradient: g), try inputGradient(of: graph, input: x, outputGradient: g), rtol: 1e-3, atol: 1e-4, "input gradient")
    }

    /// ConvNeXt's block as exported (depthwise 7x7, Transpose to channels-last, LayerNorm, Linear,
    /// GELU, Linear, Transpose back, layer scale, residual Add) and its LayerNorm2d (Transpose,
    /// LayerNorm, Transpose) run channels-first: no Transpose left, the GELU, the layer scale and
    /// the residual inside the second 1x1 convolution; a channels-last stretch holding an
    /// operator with no NCHW form (Softmax) keeps its Transposes. Inference, the input gradient
    /// and an export round trip agree with the graph as written.
    func testChannelsLastStretchesRunChannelsFirst() throws {
        func weight(_ name: String, _ shape: [Int], seed: UInt64) -> Parameter {
            Parameter(name: name, value: randomTensor(shape, seed: seed, scale: 0.5))
        }
        let c = 6
        let graph = try Graph(name: "convnext", inputShape: [c, 7, 5], nodes: [
            Node(name: "dw", op: Conv2D(weight: weight("dw.w", [c, 1, 7, 7], seed: 1), bias: weight("dw.b", [c], seed: 2),
                                        padding: .explicit(top: 3, left: 3, bottom: 3, right: 3), groups: c), inputs: ["input"]),
            Node(name: "last", op: Transpose(permutation: [0, 2, 3, 1]), inputs: ["dw"]),
            Node(name: "norm", op: LayerNorm(scale: weight("n.g", [c], seed: 3), shift: weight("n.b", [c], seed: 4), epsilon: 1e-6),
                 inputs: ["last"]),
            Node(name: "fc1", op: Dense(weight: weight("fc1.w", [4 * c, c], seed: 5), bias: weight("fc1.b", [4 * c], seed: 6),
                                        appliesToLastAxis: true), inputs: ["norm"]),
            Node(name: "gelu", op: ActivationLayer(.gelu), inputs: ["fc1"]),
            Node(name: "fc2", op: Dense(weight: weight("fc2.w", [c, 4 * c], seed: 7), bias: weight("fc2.b", [c], seed: 8),
                                        appliesToLastAxis: true), inputs: ["gelu"]),
            Node(name: "first", op: Transpose(permutation: [0, 3, 1, 2]), inputs: ["fc2"]),
            Node(name: "layer_scale", op: Constant(weight: weight("gamma", [c, 1, 1], seed: 9)), inputs: []),
            Node(name: "scaled", op: Elementwise(.mul), inputs: ["layer_scale", "first"]),
            Node(name: "block", op: Elementwise(.add), inputs: ["scaled", "input"]),
            Node(name: "last2", op: Transpose(permutation: [0, 2, 3, 1]), inputs: ["block"]),
            Node(name: "norm2", op: LayerNorm(scale: weight("m.g", [c], seed: 10), shift: nil, epsilon: 1e-6), inputs: ["last2"]),
            Node(name: "first2", op: Transpose(permutation: [0, 3, 1, 2]), inputs: ["norm2"]),
            Node(name: "last3", op: Transpose(permutation: [0, 2, 3, 1]), inputs: ["first2"]),
            Node(name: "softmax", op: Softmax(axis: -1), inputs: ["last3"]),
            Node(name: "first3", op: Transpose(permutation: [0, 3, 1, 2]), inputs: ["softmax"]),
        ], outputName: "first3")
        let optimized = try graph.optimizedForInference()
        XCTAssertEqual(optimized.nodes.map(\.name), ["dw", "norm", "gelu", "block", "first2", "last3", "softmax", "first3"])
        XCTAssertTrue(optimized.node(named: "norm")?.op is ChannelNorm)
        XCTAssertEqual((optimized.node(named: "gelu")?.op as? Conv2D)?.activation, .gelu)
        XCTAssertEqual(optimized.node(named: "block")?.inputs, ["gelu", "input"], "the residual joins the second convolution")
        XCTAssertTrue(optimized.node(named: "first2")?.op is ChannelNorm)

        let x = randomTensor([2, c, 7, 5], seed: 11)
        let expected = try Executor(graph: graph).infer(x)
        assertClose(try Executor(graph: optimized).infer(x), expected, rtol: 1e-4, atol: 1e-5, "channels-first")
        let reimported = try ONNXImporter.load(data: try ONNXExporter.export(optimized))
        assertClose(try Executor(graph: reimported).infer(x), expected, rtol: 1e-4, atol: 1e-5, "exported")
        let g = randomTensor(expected.shape, seed: 12)
        assertClose(try inputGradient(of: optimized, input: x, outputGradient: g), try inputGradient(of: graph, input: x, outputGradient: g), rtol: 1e-3, atol: 1e-4, "input gradient")
    }

    /// GELU spelled out as exporters write it becomes one activation: PyTorch's form (x / sqrt 2,
    /// erf, + 1, times x, times 0.5) after a convolution, which absorbs it; the other
    /// association with a Mul by 1 / sqrt 2 after a Dense layer over the last axis (ConvNeXt's
    /// MLP); and a formula whose erf another node also reads stays as it is. Inference, the input
    /// gradient and an export round trip agree with the unfused graph.
    func testGELUFormulaBecomesOneActivation() throws {
        func scalar(_ name: String, _ value: Float) -> Node { Node(name: name, op: Constant(Tensor(shape: [], scalars: [value])), inputs: []) }
        let conv = Conv2D(weight: Parameter(name: "w", value: randomTensor([4, 3, 3, 3], seed: 1)),
                          bias: Parameter(name: "b", value: randomTensor([4], seed: 2)),
                          padding: .explicit(top: 1, left: 1, bottom: 1, right: 1))
        let dense = Dense(weight: Parameter(name: "d", value: randomTensor([6, 5], seed: 3)),
                          bias: Parameter(name: "e", value: randomTensor([6], seed: 4)), appliesToLastAxis: true)
        let graph = try Graph(name: "gelu", inputShape: [3, 7, 5], nodes: [
            Node(name: "c", op: conv, inputs: ["input"]),
            scalar("root2", Float(2).squareRoot()), scalar("one", 1), scalar("half", 0.5), scalar("inverse_root2", Float(0.5).squareRoot()),
            Node(name: "c/div", op: Elementwise(.div), inputs: ["c", "root2"]),
            Node(name: "c/erf", op: Pointwise(.erf), inputs: ["c/div"]),
            Node(name: "c/add", op: Elementwise(.add), inputs: ["c/erf", "one"]),
            Node(name: "c/mul", op: Elementwise(.mul), inputs: ["c", "c/add"]),
            Node(name: "c/gelu", op: Elementwise(.mul), inputs: ["c/mul", "half"]),
            Node(name: "fc", op: dense, inputs: ["c/gelu"]),
            Node(name: "fc/scaled", op: Elementwise(.mul), inputs: ["inverse_root2", "fc"]),
            Node(name: "fc/erf", op: Pointwise(.erf), inputs: ["fc/scaled"]),
            Node(name: "fc/add", op: Elementwise(.add), inputs: ["one", "fc/erf"]),
            Node(name: "fc/half", op: Elementwise(.mul), inputs: ["half", "fc"]),
            Node(name: "fc/gelu", op: Elementwise(.mul), inputs: ["fc/add", "fc/half"]),
            Node(name: "kept/div", op: Elementwise(.div), inputs: ["fc/gelu", "root2"]),
            Node(name: "kept/erf", op: Pointwise(.erf), inputs: ["kept/div"]),
            Node(name: "kept/add", op: Elementwise(.add), inputs: ["kept/erf", "one"]),
            Node(name: "kept/mul", op: Elementwise(.mul), inputs: ["fc/gelu", "kept/add"]),
            Node(name: "kept/gelu", op: Elementwise(.mul), inputs: ["kept/mul", "half"]),
            Node(name: "out", op: Elementwise(.add), inputs: ["kept/gelu", "kept/erf"]),
        ], outputName: "out")
        let optimized = try graph.optimizedForInference()
        XCTAssertEqual((optimized.node(named: "c/gelu")?.op as? Conv2D)?.activation, .gelu)
        XCTAssertEqual((optimized.node(named: "fc/gelu")?.op as? ActivationLayer)?.activation, .gelu)
        XCTAssertEqual(optimized.node(named: "fc/gelu")?.inputs, ["fc"])
        XCTAssertNotNil(optimized.node(named: "kept/mul"), "a formula whose erf is read elsewhere stays")
        XCTAssertNil(optimized.node(named: "c/erf"))

        let x = randomTensor([2, 3, 7, 5], seed: 5)
        let expected = try Executor(graph: graph).infer(x)
        assertClose(try Executor(graph: optimized).infer(x), expected, rtol: 1e-5, atol: 1e-5, "fused")
        let reimported = try ONNXImporter.load(data: try ONNXExporter.export(optimized))
        assertClose(try Executor(graph: reimported).infer(x), expected, rtol: 1e-5, atol: 1e-5, "exported")
        let g = randomTensor(expected.shape, seed: 6)
        assertClose(try inputGradient(of: optimized, input: x, outputGradient: g), try inputGradient(of: graph, input: x, outputGradient: g), rtol: 1e-4, atol: 1e-5, "input gradient")
    }

    /// Squeeze-and-excitation as EfficientNet exports it (GlobalAveragePool, Conv, SiLU, Conv,
    /// Sigmoid, Mul) and as RegNetY's ReduceMean form with ReLU and a hard sigmoid: each becomes one
    /// node, in inference, backward, parameter gradients and export alike; a pool that another node
    /// also reads keeps the block apart.
    func testSqueezeExcitationBecomesOneNode() throws {
        func conv(_ seed: UInt64, _ cin: Int, _ cout: Int, kernel: Int = 1) -> Conv2D {
            Conv2D(weight: Parameter(name: "w\(seed)", value: randomTensor([cout, cin, kernel, kernel], seed: seed, scale: 0.5)),
                   bias: Parameter(name: "b\(seed)", value: randomTensor([cout], seed: seed + 1)),
                   padding: .explicit(top: kernel / 2, left: kernel / 2, bottom: kernel / 2, right: kernel / 2))
        }
        let graph = try Graph(name: "se", inputShape: [3, 9, 7], nodes: [
            Node(name: "stem", op: conv(1, 3, 6, kernel: 3), inputs: ["input"]),
            Node(name: "pool", op: GlobalAvgPool(), inputs: ["stem"]),
            Node(name: "reduce", op: conv(3, 6, 2), inputs: ["pool"]),
            Node(name: "reduce/sigmoid", op: ActivationLayer(.sigmoid), inputs: ["reduce"]),
            Node(name: "reduce/swish", op: Elementwise(.mul), inputs: ["reduce", "reduce/sigmoid"]),
            Node(name: "expand", op: conv(5, 2, 6), inputs: ["reduce/swish"]),
            Node(name: "gate", op: ActivationLayer(.sigmoid), inputs: ["expand"]),
            Node(name: "excited", op: Elementwise(.mul), inputs: ["stem", "gate"]),
            Node(name: "mean", op: ReduceMean(axes: [-2, -1]), inputs: ["excited"]),
            Node(name: "reduce2", op: conv(7, 6, 3), inputs: ["mean"]),
            Node(name: "relu", op: ActivationLayer(.relu), inputs: ["reduce2"]),
            Node(name: "expand2", op: conv(9, 3, 6), inputs: ["relu"]),
            Node(name: "gate2", op: ActivationLayer(.hardSigmoid(alpha: 1 / 6, beta: 0.5)), inputs: ["expand2"]),
            Node(name: "excited2", op: Elementwise(.mul), inputs: ["gate2", "excited"]),
            Node(name: "pool3", op: GlobalAvgPool(), inputs: ["excited2"]),
            Node(name: "reduce3", op: conv(11, 6, 2), inputs: ["pool3"]),
            Node(name: "expand3", op: conv(13, 2, 6), inputs: ["reduce3"]),
            Node(name: "excited3", op: Elementwise(.mul), inputs: ["excited2", "expand3"]),
            Node(name: "out", op: Elementwise(.add), inputs: ["excited3", "pool3"]),
        ], outputName: "out")
        let optimized = try graph.optimizedForInference()
        XCTAssertEqual(optimized.nodes.map(\.name), ["stem", "excited", "excited2", "pool3", "reduce3", "expand3", "excited3", "out"])
        XCTAssertTrue(optimized.nodes[1].op is SqueezeExcitation && optimized.nodes[2].op is SqueezeExcitation)

        let x = randomTensor([2, 3, 9, 7], seed: 17)
        let expected = try Executor(graph: graph).infer(x)
        assertClose(try Executor(graph: optimized).infer(x), expected, rtol: 1e-5, atol: 1e-5, "fused")
        let reimported = try ONNXImporter.load(data: try ONNXExporter.export(optimized))
        assertClose(try Executor(graph: reimported).infer(x), expected, rtol: 1e-5, atol: 1e-5, "exported")

        let g = randomTensor(expected.shape, seed: 18)
        func gradients(_ graph: Graph) throws -> (input: Tensor, weights: [Tensor]) {
            for p in graph.parameters { p.zeroGradient() }
            let executor = Executor(graph: graph)
            let trace = try executor.forward(x, context: ForwardContext(isTraining: false))
            let input = try XCTUnwrap(executor.backward(trace, gradient: g, computesParameterGradients: true)["input"])
            return (input, graph.parameters.filter { $0.name.hasPrefix("w") }.sorted { $0.name < $1.name }.map(\.gradient))
        }
        let (fused, original) = (try gradients(optimized), try gradients(graph))
        assertClose(fused.input, original.input, rtol: 1e-4, atol: 1e-5, "input gradient")
        XCTAssertEqual(fused.weights.count, original.weights.count)
        for (a, b) in zip(fused.weights, original.weights) { assertClose(a, b, rtol: 1e-4, atol: 1e-5, "weight gradient") }
    }

    /// SqueezeNet's Dropout before its last convolution copies a whole activation in inference
    /// unless it goes; the ReLU after it then fuses into the convolution before it.
    func testDropoutGoesInInference() throws {
        let conv = Conv2D(weight: Parameter(name: "w", value: randomTensor([4, 3, 3, 3], seed: 1)), bias: nil)
        let graph = try Graph(name: "dropout", inputShape: [3, 6, 6], nodes: [
            Node(name: "conv", op: conv, inputs: ["input"]),
            Node(name: "drop", op: Dropout(rate: 0.5), inputs: ["conv"]),
            Node(name: "relu", op: ActivationLayer(.relu), inputs: ["drop"]),
            Node(name: "last", op: Dropout(rate: 0.5), inputs: ["relu"]),
        ], outputName: "last")
        let optimized = try graph.optimizedForInference()
        XCTAssertEqual(optimized.nodes.map(\.name), ["relu", "last"], "only the Dropout that is the output stays")
        let x = randomTensor([1, 3, 6, 6], seed: 2)
        assertClose(try Executor(graph: optimized).infer(x), try Executor(graph: graph).infer(x), rtol: 1e-6, atol: 1e-6, "same function")
    }

    /// DenseNet's Caffe export: BatchNorm after a Concat, then a per-channel Mul and Add, then ReLU.
    func testStandaloneBatchNormChainFusesAndBackpropagates() throws {
        var random = RandomSource(seed: 9)
        func vector(_ shift: Float) -> Tensor { Tensor(shape: [4], scalars: (0..<4).map { _ in shift + random.nextNormal() }) }
        let bn = BatchNorm(name: "bn", channels: 4)
        bn.runningMean.value = vector(0)
        bn.runningVariance.value = vector(3).map { abs($0) + 0.1 }
        bn.scale.value = vector(0)
        bn.shift.value = vector(0)
        let graph = try Graph(name: "chain", inputShape: [2, 3, 3], nodes: [
            Node(name: "cat", op: Concat(axis: 1), inputs: ["input", "input"]),
            Node(name: "bn", op: bn, inputs: ["cat"]),
            Node(name: "scale", op: Constant(vector(0).reshaped(to: [4, 1, 1])), inputs: []),
            Node(name: "mul", op: Elementwise(.mul), inputs: ["bn", "scale"]),
            Node(name: "shift", op: Constant(vector(0).reshaped(to: [1, 4, 1, 1])), inputs: []),
            Node(name: "add", op: Elementwise(.add), inputs: ["shift", "mul"]),
            Node(name: "relu", op: ActivationLayer(.relu), inputs: ["add"]),
        ], outputName: "relu")
        let optimized = try graph.optimizedForInference()
        XCTAssertEqual(optimized.nodes.filter { $0.op is BatchNorm || $0.op is Elementwise || $0.op is ActivationLayer }.count, 0)
        XCTAssertEqual(optimized.nodes.map(\.name), ["cat", "relu"])

        let x = randomTensor([2, 2, 3, 3], seed: 10)
        let expected = try Executor(graph: graph).infer(x)
        let actual = try Executor(graph: optimized).infer(x)
        for (a, b) in zip(actual.scalars, expected.scalars) { XCTAssertEqual(a, b, accuracy: 1e-5) }

        let g = randomTensor(expected.shape, seed: 11)
        let (dOptimized, dOriginal) = (try inputGradient(of: optimized, input: x, outputGradient: g), try inputGradient(of: graph, input: x, outputGradient: g))
        XCTAssertGreaterThan(dOriginal.scalars.map(abs).max() ?? 0, 0)
        for (a, b) in zip(dOptimized.scalars, dOriginal.scalars) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }
}

/// The gradient of `outputGradient · f(input)` with respect to the graph's input, in inference
/// mode: what saliency backpropagates, so a rewrite must leave it as it was.
private func inputGradient(of graph: Graph, input: Tensor, outputGradient: Tensor) throws -> Tensor {
    let executor = Executor(graph: graph)
    let trace = try executor.forward(input, context: ForwardContext(isTraining: false))
    return try XCTUnwrap(executor.backward(trace, gradient: outputGradient, computesParameterGradients: false)["input"])
}
