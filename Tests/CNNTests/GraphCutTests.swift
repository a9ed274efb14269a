import CNN
import Foundation
import XCTest

/// The classifier cut (`Graph.classifierCut`) on native and imported graphs, and the tail
/// replacement that builds a new head there.
final class GraphCutTests: XCTestCase {
    /// models/fashion-cnn.architecture.json.
    static let fashionCNN = """
    {"name": "fashion-cnn", "input": {"channels": 1, "height": 28, "width": 28},
     "layers": [{"type": "conv2d", "name": "conv1", "filters": 32, "kernel": 3, "padding": "same", "use_bias": false},
                {"type": "batchnorm", "name": "bn1"}, {"type": "relu", "name": "relu1"}, {"type": "maxpool2d", "name": "pool1", "kernel": 2},
                {"type": "conv2d", "name": "conv2", "filters": 64, "kernel": 3, "padding": "same", "use_bias": false},
                {"type": "batchnorm", "name": "bn2"}, {"type": "relu", "name": "relu2"}, {"type": "maxpool2d", "name": "pool2", "kernel": 2},
                {"type": "flatten", "name": "flatten"}, {"type": "dropout", "name": "dropout", "rate": 0.3},
                {"type": "dense", "name": "fc1", "units": 128, "activation": "relu"}, {"type": "dense", "name": "fc2", "units": 10}]}
    """

    func testFashionCNNIsCutAtItsLastPoolingBeforeTheFlatten() throws {
        let graph = try Architecture(json: Data(Self.fashionCNN.utf8)).makeGraph()
        let cut = try graph.classifierCut()
        XCTAssertEqual(cut.node, "pool2")
        XCTAssertEqual(cut.removed, ["flatten", "dropout", "fc1", "fc2"])
        XCTAssertEqual(cut.featureShape, [64, 7, 7])
        XCTAssertFalse(cut.pools, "its head flattens the feature map")
    }

    private func conv(_ name: String, _ input: String, _ output: String, pads: Int = 1) -> ONNXModelWriter.NodeSpec {
        .init(type: "Conv", inputs: [input, "\(name).w", "\(name).b"], outputs: [output], name: name, ints: ["pads": [pads, pads, pads, pads]])
    }

    private func weights(_ name: String, _ shape: [Int], seed: Int) -> [String: ONNXModelWriter.FloatTensor] {
        let count = shape.reduce(1, *)
        return ["\(name).w": .init(shape: shape, values: (0..<count).map { Float(sin(Double($0 * 7 + seed))) * 0.3 }),
                "\(name).b": .init(shape: [shape[0]], repeating: 0.01)]
    }

    /// A torchvision-style tail: convolutions, global average pooling, flatten, a Gemm classifier.
    private func pooledModel() throws -> Graph {
        var initializers = weights("c1", [4, 3, 3, 3], seed: 1).merging(weights("c2", [8, 4, 1, 1], seed: 2)) { a, _ in a }
        initializers["fc.w"] = .init(shape: [10, 8], values: (0..<80).map { Float($0 % 7) * 0.05 - 0.15 })
        initializers["fc.b"] = .init(shape: [10], repeating: 0)
        let model = ONNXModelWriter(inputs: [("x", [1, 3, 8, 8])], outputs: ["y"], nodes: [
            conv("c1", "x", "a1"), .init(type: "Relu", inputs: ["a1"], outputs: ["r1"], name: "relu1"),
            conv("c2", "r1", "a2", pads: 0), .init(type: "Relu", inputs: ["a2"], outputs: ["r2"], name: "relu2"),
            .init(type: "GlobalAveragePool", inputs: ["r2"], outputs: ["p"], name: "pool"),
            .init(type: "Flatten", inputs: ["p"], outputs: ["f"], name: "flatten"),
            .init(type: "Gemm", inputs: ["f", "fc.w", "fc.b"], outputs: ["y"], name: "fc", int: ["transB": 1]),
        ], floatInitializers: initializers).data
        return try ONNXImporter.load(data: model)
    }

    func testImportedGraphIsCutAtTheLastSpatialNodeAndSaysWhichNode() throws {
        let graph = try pooledModel()
        let cut = try graph.classifierCut()
        let shapes = try graph.shapes(batch: 1)
        XCTAssertEqual(shapes[cut.node], [1, 8, 8, 8], "the feature map after the second convolution and its ReLU")
        XCTAssertEqual(cut.featureShape, [8, 8, 8])
        XCTAssertTrue(cut.pools)
        XCTAssertEqual(cut.removed.count, graph.nodes.count - graph.nodes.firstIndex { $0.name == cut.node }! - 1)
        XCTAssertTrue(cut.removed.allSatisfy { (shapes[$0]?.count ?? 0) < 4 || shapes[$0]!.suffix(2) == [1, 1] }, "\(cut.removed)")
    }

    /// Squeeze-and-excitation (EfficientNet, MobileNetV3, RegNetY) pools the map inside the
    /// body and multiplies the map by what it computes from the pooling: the map goes on, so
    /// the cut is still at the last feature map before the classifier, not before the first
    /// such block (which once left EfficientNet-B0 two convolutions of its 81).
    func testSqueezeAndExcitationInsideTheBodyDoesNotMoveTheCut() throws {
        var initializers = weights("c1", [4, 3, 3, 3], seed: 1).merging(weights("se1", [2, 4, 1, 1], seed: 4)) { a, _ in a }
        initializers.merge(weights("se2", [4, 2, 1, 1], seed: 5)) { a, _ in a }
        initializers.merge(weights("c2", [8, 4, 1, 1], seed: 2)) { a, _ in a }
        initializers["fc.w"] = .init(shape: [10, 8], values: (0..<80).map { Float($0 % 7) * 0.05 - 0.15 })
        initializers["fc.b"] = .init(shape: [10], repeating: 0)
        let model = ONNXModelWriter(inputs: [("x", [1, 3, 8, 8])], outputs: ["y"], nodes: [
            conv("c1", "x", "a1"), .init(type: "Relu", inputs: ["a1"], outputs: ["r1"], name: "relu1"),
            .init(type: "GlobalAveragePool", inputs: ["r1"], outputs: ["squeezed"], name: "se.pool"),
            conv("se1", "squeezed", "e1", pads: 0), .init(type: "Relu", inputs: ["e1"], outputs: ["e1r"], name: "se.relu"),
            conv("se2", "e1r", "e2", pads: 0), .init(type: "Sigmoid", inputs: ["e2"], outputs: ["scale"], name: "se.sigmoid"),
            .init(type: "Mul", inputs: ["r1", "scale"], outputs: ["excited"], name: "se.mul"),
            conv("c2", "excited", "a2", pads: 0), .init(type: "Relu", inputs: ["a2"], outputs: ["r2"], name: "relu2"),
            .init(type: "GlobalAveragePool", inputs: ["r2"], outputs: ["p"], name: "pool"),
            .init(type: "Flatten", inputs: ["p"], outputs: ["f"], name: "flatten"),
            .init(type: "Gemm", inputs: ["f", "fc.w", "fc.b"], outputs: ["y"], name: "fc", int: ["transB": 1]),
        ], floatInitializers: initializers).data
        let graph = try ONNXImporter.load(data: model)
        let cut = try graph.classifierCut()
        XCTAssertEqual(cut.featureShape, [8, 8, 8], "the feature map after the last convolution, past the block")
        XCTAssertTrue(cut.pools)
        XCTAssertFalse(graph.nodes.filter { cut.removed.contains($0.name) }.contains { $0.op is Conv2D },
                       "the head holds no convolution: \(cut.removed)")
        var pool = LayerSpec(type: "global_avgpool")
        pool.name = "new_pool"
        var output = LayerSpec(type: "dense")
        output.name = "new_output"
        output.units = 3
        let replaced = try graph.replacingTail(at: cut.node, removing: cut.removed,
                                               with: [pool, LayerSpec(type: "flatten"), output], seed: 1)
        XCTAssertEqual(replaced.nodes.filter { $0.op is Conv2D }.count, graph.nodes.filter { $0.op is Conv2D }.count,
                       "every convolution of the body is kept")
    }

    func testSqueezeNetsClassScoringConvolutionBelongsToTheHead() throws {
        let initializers = weights("c1", [4, 3, 3, 3], seed: 1).merging(weights("conv10", [10, 4, 1, 1], seed: 3)) { a, _ in a }
        let model = ONNXModelWriter(inputs: [("x", [1, 3, 8, 8])], outputs: ["y"], nodes: [
            conv("c1", "x", "a1"), .init(type: "Relu", inputs: ["a1"], outputs: ["r1"], name: "relu1"),
            conv("conv10", "r1", "a10", pads: 0), .init(type: "Relu", inputs: ["a10"], outputs: ["r10"], name: "relu10"),
            .init(type: "GlobalAveragePool", inputs: ["r10"], outputs: ["p"], name: "pool"),
            .init(type: "Flatten", inputs: ["p"], outputs: ["y"], name: "flatten"),
        ], floatInitializers: initializers).data
        let graph = try ONNXImporter.load(data: model)
        let cut = try graph.classifierCut()
        XCTAssertEqual(cut.featureShape, [4, 8, 8], "cut before the 1x1 convolution to the 10 classes")
        XCTAssertTrue(graph.nodes.filter { cut.removed.contains($0.name) }.contains { $0.op is Conv2D })
    }

    /// A branch from an earlier feature map joins after the last one: cutting there would leave
    /// the branch's input behind, so the cut moves up to where both paths start.
    func testAPathAroundTheLastFeatureMapMovesTheCutEarlier() throws {
        let graph = try Architecture(json: Data("""
        {"name": "branches", "input": {"channels": 1, "height": 8, "width": 8},
         "layers": [{"type": "conv2d", "name": "c1", "filters": 4, "kernel": 3, "padding": "same", "activation": "relu"},
                    {"type": "conv2d", "name": "c2", "filters": 4, "kernel": 3, "padding": "same", "activation": "relu"},
                    {"type": "global_avgpool", "name": "p2"},
                    {"type": "global_avgpool", "name": "p1", "inputs": ["c1"]},
                    {"type": "add", "name": "sum", "inputs": ["p1", "p2"]},
                    {"type": "flatten", "name": "f"}, {"type": "dense", "name": "out", "units": 3}]}
        """.utf8)).makeGraph()
        let cut = try graph.classifierCut()
        XCTAssertEqual(cut.node, "c1")
        XCTAssertEqual(cut.removed, ["c2", "p2", "p1", "sum", "f", "out"])
    }

    func testAGraphWithoutAFeatureMapHasNoCut() throws {
        let graph = try Architecture(json: Data("""
        {"name": "mlp", "input": {"channels": 1, "height": 4, "width": 4},
         "layers": [{"type": "flatten"}, {"type": "dense", "units": 8, "activation": "relu"}, {"type": "dense", "units": 2}]}
        """.utf8)).makeGraph()
        XCTAssertThrowsError(try graph.classifierCut()) { XCTAssertTrue("\($0)".contains("head: last"), "\($0)") }
    }

    func testReplacingTheTailKeepsTheBodysParametersAndDropsTheOldHead() throws {
        let graph = try pooledModel()
        let cut = try graph.classifierCut()
        var flatten = LayerSpec(type: "flatten")
        flatten.name = "new_flatten"
        var output = LayerSpec(type: "dense")
        (output.name, output.units) = ("new_output", 3)
        var pool = LayerSpec(type: "global_avgpool")
        pool.name = "new_pool"
        let replaced = try graph.replacingTail(at: cut.node, removing: cut.removed, with: [pool, flatten, output], seed: 1)
        XCTAssertEqual(replaced.outputName, "new_output")
        XCTAssertEqual(try replaced.shapes(batch: 2)["new_output"], [2, 3])
        XCTAssertTrue(cut.removed.allSatisfy { replaced.node(named: $0) == nil })
        let bodyParameters = graph.nodes.filter { !cut.removed.contains($0.name) }.flatMap(\.op.parameters).map(ObjectIdentifier.init)
        let kept = replaced.parameters.map(ObjectIdentifier.init)
        XCTAssertEqual(Array(kept.prefix(bodyParameters.count)), bodyParameters, "the body's weights are the base's own")
        XCTAssertEqual(replaced.parameters.count, bodyParameters.count + 2)
        XCTAssertThrowsError(try graph.replacingTail(at: cut.node, removing: cut.removed, with: [pool, pool], seed: 1),
                             "a name used twice")
    }
}
