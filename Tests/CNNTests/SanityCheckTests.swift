import CNN
import XCTest

/// The parts of the sanity check (Adebayo et al. 2018): rank correlation and cascading
/// randomization. Its verdict on a trained model is in ServiceTests' SaliencySanityTests.
final class SanityCheckTests: XCTestCase {
    func testSpearmanIsScipys() throws {
        // scipy.stats.spearmanr's documented example (ties in the second sequence share their rank).
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])), 0.8207826816681233, accuracy: 1e-12)
        let x: [Float] = [0.3, -2, 5, 1, 7, 0]
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.spearman(x, x.map { $0 * $0 * $0 })), 1, accuracy: 1e-12, "monotone is 1")
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.spearman(x, x.map { -exp($0) })), -1, accuracy: 1e-12)
        XCTAssertNil(RankCorrelation.spearman(x, [Float](repeating: 2, count: 6)), "a constant map has no ranking")
    }

    /// conv -> bn -> relu -> conv -> flatten -> dense -> softmax, with a dead branch.
    private func model() throws -> Graph {
        var random = RandomSource(seed: 3)
        func parameter(_ name: String, _ shape: [Int]) -> Parameter {
            Parameter(name: name, value: Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in random.nextNormal() }))
        }
        return try Graph(name: "small", inputShape: [1, 8, 8], nodes: [
            Node(name: "conv1", op: Conv2D(weight: parameter("conv1.w", [4, 1, 3, 3]), bias: parameter("conv1.b", [4]),
                                           padding: .same(lower: false)), inputs: ["input"]),
            Node(name: "bn1", op: BatchNorm(scale: parameter("bn1.scale", [4]), shift: parameter("bn1.shift", [4]),
                                            runningMean: parameter("bn1.mean", [4]),
                                            runningVariance: Parameter(name: "bn1.var", value: Tensor(shape: [4], scalars: [1, 2, 0.5, 1]))),
                 inputs: ["conv1"]),
            Node(name: "relu1", op: ActivationLayer(.relu), inputs: ["bn1"]),
            Node(name: "conv2", op: Conv2D(weight: parameter("conv2.w", [2, 4, 3, 3]), bias: nil, padding: .same(lower: false)),
                 inputs: ["relu1"]),
            Node(name: "unused", op: Conv2D(weight: parameter("unused.w", [2, 4, 1, 1]), bias: nil), inputs: ["relu1"]),
            Node(name: "flat", op: Flatten(), inputs: ["conv2"]),
            Node(name: "fc", op: Dense(weight: parameter("fc.w", [3, 128]), bias: parameter("fc.b", [3])), inputs: ["flat"]),
            Node(name: "probs", op: Softmax(axis: 1), inputs: ["fc"]),
        ], outputName: "probs")
    }

    func testLayersAreTheWeightedOnesFromTheTopThatReachTheScores() throws {
        let graph = try model()
        XCTAssertEqual(graph.randomizableLayers(upTo: "fc"), ["fc", "conv2", "conv1"])
    }

    func testRandomizingALayerReplacesItsWeightsOnlyAndIsSeeded() throws {
        let graph = try model(), again = try model()
        let before = graph.parameters.map(\.value)
        try graph.randomize(layer: "conv2", seed: 7)
        try again.randomize(layer: "conv2", seed: 7)
        for (parameter, old) in zip(graph.parameters, before) {
            XCTAssertEqual(parameter.value.shape, old.shape)
            XCTAssertEqual(parameter.value != old, parameter.name == "conv2.w", parameter.name)
        }
        XCTAssertEqual(graph.parameters.map(\.value), again.parameters.map(\.value), "the same seed gives the same weights")
        // He-uniform for a fan-in of 4 x 3 x 3: within sqrt(6 / 36).
        let bound = (6 / Float(36)).squareRoot()
        let weights = try XCTUnwrap(graph.parameters.first { $0.name == "conv2.w" }).value.scalars
        XCTAssertLessThanOrEqual(weights.map { abs($0) }.max()!, bound)
        XCTAssertGreaterThan(weights.map { abs($0) }.max()!, bound * 0.8)
        XCTAssertThrowsError(try graph.randomize(layer: "bn1", seed: 1))
    }

    func testTheCheckRunsOnItsCopyAndReportsEveryStep() throws {
        let served = try model(), copy = try model()
        let input = randomTensor([1, 1, 8, 8], seed: 9)
        let check = SaliencySanityCheck(copy: copy, scoreNode: "fc")
        let report = try check.run(input: input, targetClass: nil, methods: [.gradient, .guidedBackprop], depth: 2,
                                   options: SaliencyOptions())
        XCTAssertEqual(report.layers, ["fc", "conv2"])
        XCTAssertEqual(report.methods.map(\.method), [.gradient, .guidedBackprop])
        XCTAssertEqual(report.methods.map { $0.steps.map(\.layer) }, [["fc", "conv2"], ["fc", "conv2"]])
        XCTAssertEqual(served.parameters.map(\.value), try model().parameters.map(\.value), "another graph is never written")
        XCTAssertNotEqual(copy.parameters.map(\.value), try model().parameters.map(\.value))
        for method in report.methods {
            let mean = method.steps.map { $0.spearman ?? 0 }.reduce(0, +) / 2
            XCTAssertEqual(method.meanSpearman, mean, accuracy: 1e-12)
            XCTAssertEqual(method.flagged, mean >= SaliencySanityCheck.flagThreshold)
        }
    }
}
