import CNN
import XCTest

final class SaliencyTests: XCTestCase {
    /// A network that can only see rows 4..<8, columns 9..<13 of a 16x16 image: a 3x3 conv,
    /// then a dense layer whose weights are zero outside that block.
    func regionModel() throws -> Graph {
        var random = RandomSource(seed: 1)
        let conv = Conv2D(weight: Parameter(name: "c.w", value: Tensor(shape: [2, 3, 3, 3], scalars: (0..<54).map { _ in random.nextNormal() })),
                          bias: Parameter(name: "c.b", value: Tensor(shape: [2], scalars: [0.1, 0.2])),
                          padding: .same(lower: false), activation: .relu)
        var weights = Tensor(zeros: [3, 2 * 16 * 16])
        for k in 0..<3 {
            for c in 0..<2 {
                for y in 4..<8 { for x in 9..<13 { weights.scalars[k * 512 + c * 256 + y * 16 + x] = random.nextNormal() } }
            }
        }
        let dense = Dense(weight: Parameter(name: "d.w", value: weights), bias: nil)
        return try Graph(name: "region", inputShape: [3, 16, 16], nodes: [
            Node(name: "conv", op: conv, inputs: ["input"]),
            Node(name: "flat", op: Flatten(), inputs: ["conv"]),
            Node(name: "logits", op: dense, inputs: ["flat"]),
            Node(name: "probs", op: Softmax(axis: 1), inputs: ["logits"]),
        ])
    }

    /// Fraction of the map's mass inside rows 3..<9, columns 8..<14 (the block plus the conv's reach).
    func massInRegion(_ map: Tensor) -> Float {
        let (h, w) = (map.shape[0], map.shape[1])
        var inside: Float = 0, total: Float = 0
        for y in 0..<h {
            for x in 0..<w {
                let v = abs(map.scalars[y * w + x])
                total += v
                if (3..<9).contains(y) && (8..<14).contains(x) { inside += v }
            }
        }
        return total > 0 ? inside / total : 0
    }

    func testEveryMethodPutsTheMassWhereTheModelLooks() throws {
        let graph = try regionModel()
        let computer = SaliencyComputer(executor: Executor(graph: graph))
        XCTAssertEqual(computer.scoreNode, "logits", "scores are taken before the softmax")
        let input = randomTensor([1, 3, 16, 16], seed: 2).map { abs($0) }
        // Grad-CAM weighs whole activation maps, so it localizes only where the activations do: below.
        for method in SaliencyMethod.allCases where method != .gradcam {
            let result = try computer.compute(method, input: input, targetClass: 1)
            XCTAssertEqual(result.targetClass, 1)
            let map = ChannelReduction.maxAbs.apply(result.attribution)
            XCTAssertEqual(map.shape, [16, 16], "\(method)")
            XCTAssertGreaterThan(map.sum(), 0, "\(method)")
            XCTAssertGreaterThan(massInRegion(map), 0.99, "\(method)")
        }
    }

    /// ONNX graphs before opset 13 softmax over a flattened [N, C] and reshape back to
    /// [N, C, 1, 1] (SqueezeNet 1.0): the scores are still the softmax's input, not its output.
    func testScoresAreTakenBeforeASoftmaxWrappedInReshapes() throws {
        let region = try regionModel()
        let graph = try Graph(name: "wrapped", inputShape: [3, 16, 16], nodes: Array(region.nodes.dropLast()) + [
            Node(name: "logits/flat", op: Flatten(), inputs: ["logits"]),
            Node(name: "probs/2d", op: Softmax(axis: 1), inputs: ["logits/flat"]),
            Node(name: "probs", op: Reshape([0, 3, 1, 1]), inputs: ["probs/2d"]),
        ])
        XCTAssertEqual(SaliencyComputer(executor: Executor(graph: graph)).scoreNode, "logits/flat")
        XCTAssertEqual(SaliencyComputer(executor: Executor(graph: region)).scoreNode, "logits")
        let unwrapped = try Graph(name: "plain", inputShape: [3, 16, 16], nodes: Array(region.nodes.dropLast()))
        XCTAssertEqual(SaliencyComputer(executor: Executor(graph: unwrapped)).scoreNode, "logits", "no softmax: the output")
    }

    /// Grad-CAM on an image that is dark except for the block the model reads: the
    /// activations, and so the map, live in that block.
    func testGradCAMFollowsTheActivations() throws {
        let graph = try regionModel()
        let dense = graph.node(named: "logits")!.op as! Dense
        dense.weight.value = dense.weight.value.map { abs($0) }
        (graph.node(named: "conv")!.op as! Conv2D).weight.value = (graph.node(named: "conv")!.op as! Conv2D).weight.value.map { abs($0) }
        (graph.node(named: "conv")!.op as! Conv2D).bias!.value = Tensor(zeros: [2])
        var input = Tensor(zeros: [1, 3, 16, 16])
        for c in 0..<3 { for y in 4..<8 { for x in 9..<13 { input[0, c, y, x] = 1 } } }
        let result = try SaliencyComputer(executor: Executor(graph: graph)).compute(.gradcam, input: input, targetClass: 0)
        let map = ChannelReduction.maxAbs.apply(result.attribution)
        XCTAssertGreaterThan(map.sum(), 0)
        XCTAssertGreaterThan(massInRegion(map), 0.9)
    }

    func testGradientMatchesFiniteDifferencesOfTheScore() throws {
        let graph = try regionModel()
        let executor = Executor(graph: graph)
        let computer = SaliencyComputer(executor: executor)
        let input = randomTensor([1, 3, 16, 16], seed: 3)
        let result = try computer.compute(.gradient, input: input)
        let logits = try executor.forward(input, context: ForwardContext(isTraining: false)).activations["logits"]!
        XCTAssertEqual(result.targetClass, logits.argmaxRows()[0], "the default class is the top one")
        func score(_ x: Tensor) throws -> Float {
            try executor.forward(x, context: ForwardContext(isTraining: false)).activations["logits"]!.scalars[result.targetClass]
        }
        var agreeing = 0, checked = 0
        for i in stride(from: 0, to: input.count, by: 5) {
            var plus = input, minus = input
            plus.scalars[i] += 1e-2
            minus.scalars[i] -= 1e-2
            let numeric = (try score(plus) - score(minus)) / 2e-2
            checked += 1
            if abs(numeric - result.attribution.scalars[i]) <= 1e-2 * max(1, abs(numeric)) { agreeing += 1 }
        }
        XCTAssertGreaterThanOrEqual(agreeing * 20, checked * 19, "ReLU kinks may spoil a few differences, no more")
    }

    /// An Inception module as GoogLeNet's: convolutions with BatchNorm and ReLU, a 3x3 stride-1
    /// max pool with ceil_mode in the fourth branch, a Concat, and a stride-2 ceil_mode pool
    /// before it. The gradient map is the same on the graph as loaded and as the service runs it
    /// (BatchNorm folded, ReLUs fused, Concat inputs placed), and agrees with finite differences
    /// of the score: issue 18 suspected these paths for GoogLeNet's saliency.
    func testInceptionModuleSaliencyIsExactAndUnchangedByOptimization() throws {
        var seed: UInt64 = 20
        func conv(_ name: String, _ out: Int, _ inp: Int, _ k: Int) -> Conv2D {
            seed += 1
            return Conv2D(weight: parameter("\(name).w", [out, inp, k, k], seed: seed, scale: 0.4), bias: nil,
                          padding: .explicit(top: k / 2, left: k / 2, bottom: k / 2, right: k / 2))
        }
        func norm(_ name: String, _ channels: Int) -> BatchNorm {
            let bn = BatchNorm(name: name, channels: channels)
            seed += 1
            bn.runningMean.value = randomTensor([channels], seed: seed, scale: 0.1)
            bn.runningVariance.value = randomTensor([channels], seed: seed + 100, scale: 0.2).map { 1 + abs($0) }
            return bn
        }
        var nodes = [
            Node(name: "stem", op: conv("stem", 6, 3, 3), inputs: ["input"]),
            Node(name: "stem_bn", op: norm("stem_bn", 6), inputs: ["stem"]),
            Node(name: "stem_relu", op: ActivationLayer(.relu), inputs: ["stem_bn"]),
            Node(name: "reduce", op: MaxPool2D(kernel: (3, 3), stride: (2, 2), ceilMode: true), inputs: ["stem_relu"]),
        ]
        for (branch, layers) in [("b1", [(4, 1)]), ("b2", [(3, 1), (4, 3)]), ("b3", [(2, 1), (3, 3)])] {
            var previous = ("reduce", 6)
            for (i, (out, k)) in layers.enumerated() {
                let name = "\(branch)_\(i)"
                nodes += [Node(name: name, op: conv(name, out, previous.1, k), inputs: [previous.0]),
                          Node(name: "\(name)_bn", op: norm("\(name)_bn", out), inputs: [name]),
                          Node(name: "\(name)_relu", op: ActivationLayer(.relu), inputs: ["\(name)_bn"])]
                previous = ("\(name)_relu", out)
            }
        }
        nodes += [
            Node(name: "b4_pool", op: MaxPool2D(kernel: (3, 3), stride: (1, 1), padding: .explicit(top: 1, left: 1, bottom: 1, right: 1),
                                                ceilMode: true), inputs: ["reduce"]),
            Node(name: "b4", op: conv("b4", 3, 6, 1), inputs: ["b4_pool"]),
            Node(name: "b4_bn", op: norm("b4_bn", 3), inputs: ["b4"]),
            Node(name: "b4_relu", op: ActivationLayer(.relu), inputs: ["b4_bn"]),
            Node(name: "concat", op: Concat(axis: 1), inputs: ["b1_0_relu", "b2_1_relu", "b3_1_relu", "b4_relu"]),
            Node(name: "gap", op: GlobalAvgPool(), inputs: ["concat"]),
            Node(name: "flat", op: Flatten(), inputs: ["gap"]),
            Node(name: "logits", op: Dense(weight: parameter("fc.w", [5, 14], seed: 99), bias: nil), inputs: ["flat"]),
        ]
        let graph = try Graph(name: "inception", inputShape: [3, 15, 15], nodes: nodes)
        let input = randomTensor([1, 3, 15, 15], seed: 7)
        let plain = try SaliencyComputer(executor: Executor(graph: graph)).compute(.gradient, input: input)
        let optimizedGraph = try graph.optimizedForInference()
        XCTAssertFalse(optimizedGraph.nodes.contains { $0.op is BatchNorm || $0.op is ActivationLayer }, "BatchNorm folded, ReLUs fused")
        let optimized = try SaliencyComputer(executor: Executor(graph: optimizedGraph)).compute(.gradient, input: input, targetClass: plain.targetClass)
        assertClose(optimized.attribution, plain.attribution, rtol: 1e-4, atol: 1e-6, "optimized against plain")
        let executor = Executor(graph: graph)
        func score(_ x: Tensor) throws -> Double {
            Double(try executor.forward(x, context: ForwardContext(isTraining: false)).output.scalars[plain.targetClass])
        }
        var agreeing = 0
        for i in 0..<input.count {
            var plus = input, minus = input
            plus.scalars[i] += 1e-3
            minus.scalars[i] -= 1e-3
            let numeric = Float((try score(plus) - score(minus)) / 2e-3)
            if abs(numeric - plain.attribution.scalars[i]) <= 2e-2 * max(0.1, abs(numeric)) { agreeing += 1 }
        }
        XCTAssertGreaterThanOrEqual(agreeing * 50, input.count * 49, "only pixels at a ReLU kink or a max-pool tie may disagree")
    }

    func testIntegratedGradientsAreComplete() throws {
        let arch = try Architecture(json: Data(#"{"name":"s","input":{"channels":3,"height":8,"width":8},"layers":[{"type":"conv2d","filters":4,"kernel":3,"activation":"tanh"},{"type":"global_avgpool"},{"type":"flatten"},{"type":"dense","units":3}]}"#.utf8))
        let computer = SaliencyComputer(executor: Executor(graph: try arch.makeGraph(seed: 4)))
        let result = try computer.compute(.integratedGradients, input: randomTensor([1, 3, 8, 8], seed: 5))
        let error = try XCTUnwrap(result.completenessError)
        XCTAssertLessThan(abs(error), 0.01 * max(abs(result.score), 1e-3) + 1e-4)
    }

    /// Gauss-Legendre with n points integrates every polynomial of degree up to 2n - 1 exactly
    /// over [0, 1], and no rule of fewer points does: the nodes and weights are the right ones.
    func testGaussLegendreIsExactToDegreeTwoNMinusOne() {
        for n in [1, 2, 3, 4, 7, 8, 20, 50] {
            let (alphas, weights) = IntegrationRule.gaussLegendre.points(n)
            XCTAssertEqual(alphas, alphas.sorted(), "ascending, as numpy's leggauss")
            for degree in 0...(2 * n - 1) {
                let sum = zip(alphas, weights).reduce(0.0) { $0 + $1.1 * pow($1.0, Double(degree)) }
                XCTAssertEqual(sum, 1 / Double(degree + 1), accuracy: 1e-12, "n \(n), x^\(degree)")
            }
            // The error at degree 2n shrinks factorially: visible in doubles up to n = 8.
            guard n <= 8 else { continue }
            let next = zip(alphas, weights).reduce(0.0) { $0 + $1.1 * pow($1.0, Double(2 * n)) }
            XCTAssertGreaterThan(abs(next - 1 / Double(2 * n + 1)), 1e-12, "n \(n) is not exact at degree 2n")
        }
    }

    /// Captum's Riemann rules, written out for four steps (captum/attr/_utils/approximation_methods.py).
    func testRiemannRulesAreCaptums() {
        let cases: [(IntegrationRule, [Double], [Double])] = [
            (.riemannLeft, [0, 0.25, 0.5, 0.75], [0.25, 0.25, 0.25, 0.25]),
            (.riemannRight, [0.25, 0.5, 0.75, 1], [0.25, 0.25, 0.25, 0.25]),
            (.riemannMiddle, [0.125, 0.375, 0.625, 0.875], [0.25, 0.25, 0.25, 0.25]),
            // Captum halves the ends of 1/n, so the trapezoid weights sum to (n - 1) / n.
            (.riemannTrapezoid, [0, 1.0 / 3, 2.0 / 3, 1], [0.125, 0.25, 0.25, 0.125]),
        ]
        for (rule, alphas, weights) in cases {
            let points = rule.points(4)
            for (a, b) in zip(points.alphas, alphas) { XCTAssertEqual(a, b, accuracy: 1e-15, "\(rule)") }
            XCTAssertEqual(points.weights, weights, "\(rule)")
        }
    }

    /// Integrated gradients and SmoothGrad give the same map whatever their batch size, and
    /// say how they ran.
    func testSamplingMethodsDoNotDependOnTheBatchSize() throws {
        let computer = SaliencyComputer(executor: Executor(graph: try regionModel()))
        let input = randomTensor([1, 3, 16, 16], seed: 6)
        for method in [SaliencyMethod.integratedGradients, .smoothgrad] {
            var one = SaliencyOptions(), seven = SaliencyOptions()
            one.steps = 12
            seven.steps = 12
            one.batchSize = 1
            seven.batchSize = 7
            let a = try computer.compute(method, input: input, targetClass: 2, options: one)
            let b = try computer.compute(method, input: input, targetClass: 2, options: seven)
            XCTAssertEqual(a.batchSize, 1)
            XCTAssertEqual(b.batchSize, 7)
            XCTAssertEqual(a.steps, 12)
            let scale = a.attribution.scalars.map(abs).max()!
            XCTAssertGreaterThan(scale, 0)
            for (x, y) in zip(a.attribution.scalars, b.attribution.scalars) { XCTAssertEqual(x, y, accuracy: 1e-5 * scale, "\(method)") }
        }
    }

    /// Completeness holds with every rule and baseline: to rounding with Gauss-Legendre, to the
    /// rule's order with Riemann sums (first order for left and right, and for Captum's
    /// trapezoid, whose weights sum to (n - 1) / n).
    func testIntegratedGradientsAreCompleteWithEveryRuleAndBaseline() throws {
        let arch = try Architecture(json: Data(#"{"name":"s","input":{"channels":3,"height":8,"width":8},"layers":[{"type":"conv2d","filters":4,"kernel":3,"activation":"tanh"},{"type":"global_avgpool"},{"type":"flatten"},{"type":"dense","units":3}]}"#.utf8))
        let computer = SaliencyComputer(executor: Executor(graph: try arch.makeGraph(seed: 4)))
        let input = randomTensor([1, 3, 8, 8], seed: 5)
        for rule in IntegrationRule.allCases {
            for baseline in SaliencyBaseline.allCases {
                var options = SaliencyOptions()
                options.integration = rule
                options.baseline = baseline
                options.steps = 64
                options.blackInput = Tensor(shape: input.shape, repeating: -1.5)
                options.channelRanges = [-2...2, -1...1, 0...1]
                let result = try computer.compute(.integratedGradients, input: input, options: options)
                let error = try XCTUnwrap(result.completenessError)
                let mass = result.attribution.scalars.reduce(0) { $0 + abs($1) }
                let tolerance: Float = rule == .gaussLegendre ? 1e-4 : rule == .riemannMiddle ? 1e-3 : 4 / 64
                XCTAssertLessThan(abs(error), tolerance * mass + 1e-6, "\(rule) \(baseline)")
            }
        }
    }

    func testBaselines() {
        let input = randomTensor([1, 3, 20, 24], seed: 7)
        let black = Tensor(shape: input.shape, repeating: -2)
        XCTAssertEqual(SaliencyBaseline.black.tensor(for: input, black: black, channelRanges: nil, seed: 0), black)
        XCTAssertEqual(SaliencyBaseline.zero.tensor(for: input, black: black, channelRanges: nil, seed: 0), Tensor(zeros: input.shape))
        let ranges: [ClosedRange<Float>] = [-2...(-1), 0...1, 5...6]
        let noise = SaliencyBaseline.noise.tensor(for: input, black: black, channelRanges: ranges, seed: 3)
        XCTAssertEqual(noise, SaliencyBaseline.noise.tensor(for: input, black: black, channelRanges: ranges, seed: 3), "seeded")
        for c in 0..<3 {
            let plane = noise.scalars[(c * 480)..<((c + 1) * 480)]
            XCTAssertTrue(plane.allSatisfy { ranges[c].contains($0) })
            XCTAssertGreaterThan(plane.max()! - plane.min()!, 0.9, "spread over the range")
        }
        // A blur keeps a constant image, keeps the mean of a periodic one, and smooths a step.
        XCTAssertEqual(GaussianBlur(sigma: 2).apply(Tensor(shape: [1, 1, 9, 9], repeating: 3)).scalars.map { ($0 * 1e4).rounded() },
                       [Float](repeating: 3e4, count: 81))
        var step = Tensor(zeros: [1, 1, 1, 40])
        for x in 20..<40 { step.scalars[x] = 1 }
        let blurred = GaussianBlur(sigma: 3).apply(step)
        XCTAssertEqual(blurred.scalars[19] + blurred.scalars[20], 1, accuracy: 1e-5, "symmetric about the edge")
        XCTAssertGreaterThan(blurred.scalars[17], 0.05)
        XCTAssertEqual(GaussianBlur.standard(forHeight: 224, width: 224).sigma, 5)
        XCTAssertEqual(GaussianBlur(sigma: 5).radius, 15)
    }

    /// Grad-CAM through a named layer; a node without a spatial output is refused by name.
    func testGradCAMLayerIsChosenByName() throws {
        let graph = try regionModel()
        let computer = SaliencyComputer(executor: Executor(graph: graph))
        let input = randomTensor([1, 3, 16, 16], seed: 8).map { abs($0) }
        XCTAssertEqual(try computer.spatialLayers(), ["conv"])
        var named = SaliencyOptions()
        named.layer = "conv"
        XCTAssertEqual(try computer.compute(.gradcam, input: input, targetClass: 0, options: named).attribution,
                       try computer.compute(.gradcam, input: input, targetClass: 0).attribution)
        named.layer = "flat"
        XCTAssertThrowsError(try computer.compute(.gradcam, input: input, options: named)) {
            XCTAssertTrue("\($0)".contains("flat"), "\($0)")
        }
    }

    func testOutOfRangeClassIsAnError() throws {
        let computer = SaliencyComputer(executor: Executor(graph: try regionModel()))
        XCTAssertThrowsError(try computer.compute(.gradient, input: Tensor(zeros: [1, 3, 16, 16]), targetClass: 7))
    }
}
