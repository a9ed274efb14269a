import CNN
import XCTest

/// Every operator's backward against central finite differences on random inputs.
final class GradientTests: XCTestCase {
    let checker = GradientChecker()

    func conv(_ cin: Int, _ cout: Int, k: (Int, Int), stride: (Int, Int) = (1, 1), dilation: (Int, Int) = (1, 1),
              padding: Padding = .zero, groups: Int = 1, activation: Activation? = nil) -> Conv2D {
        Conv2D(weight: parameter("w", [cout, cin / groups, k.0, k.1], seed: 1),
               bias: parameter("b", [cout], seed: 2), stride: stride, dilation: dilation, padding: padding,
               groups: groups, activation: activation)
    }

    func testConvolutions() {
        let x = randomTensor([2, 4, 7, 6], seed: 3)
        checker.check(conv(4, 3, k: (3, 3)), [x])
        checker.check(conv(4, 3, k: (3, 2), stride: (2, 2), padding: .explicit(top: 1, left: 0, bottom: 2, right: 1)), [x])
        checker.check(conv(4, 2, k: (3, 3), dilation: (2, 2), padding: .same(lower: false)), [x])
        checker.check(conv(4, 6, k: (3, 3), stride: (2, 1), padding: .same(lower: true), groups: 2), [x])
        checker.check(conv(4, 4, k: (3, 3), stride: (2, 2), padding: .explicit(top: 1, left: 1, bottom: 1, right: 1), groups: 4), [x])
        checker.check(conv(4, 8, k: (5, 3), dilation: (1, 2), padding: .same(lower: false), groups: 4), [x])
        checker.check(conv(4, 5, k: (1, 1)), [x])
        // Few outputs, so that a weight step rarely moves one across the ReLU kink.
        checker.check(conv(4, 6, k: (1, 1), groups: 2, activation: .relu), [randomTensor([1, 4, 2, 3], seed: 20)])
        checker.check(conv(4, 3, k: (3, 3), padding: .valid, activation: .sigmoid), [x])
        // Activations whose output does not give their derivative: the convolution keeps their argument.
        checker.check(conv(4, 3, k: (3, 3), padding: .valid, activation: .silu), [x])
        checker.check(conv(4, 4, k: (3, 3), padding: .same(lower: false), groups: 4, activation: .hardSwish), [x])
        checker.check(conv(4, 5, k: (1, 1), activation: .silu), [x, randomTensor([2, 5, 7, 6], seed: 21)])
        // A residual input (ResNet's block output, fused for inference) through the unrolled and the depthwise paths.
        checker.check(conv(4, 5, k: (3, 3), padding: .same(lower: false), activation: .tanh), [x, randomTensor([2, 5, 7, 6], seed: 23)])
        checker.check(conv(4, 4, k: (3, 3), stride: (2, 2), padding: .explicit(top: 1, left: 1, bottom: 1, right: 1), groups: 4,
                           activation: .sigmoid), [x, randomTensor([2, 4, 4, 3], seed: 24)])
        // Depthwise layers of every kernel size the C kernel takes, with a channel multiplier.
        checker.check(conv(4, 8, k: (5, 5), stride: (2, 2), padding: .explicit(top: 2, left: 2, bottom: 1, right: 2),
                           groups: 4, activation: .silu), [x])
        // Smooth: a 7x7 sum puts many outputs at hard swish's kinks (±3), more than the checker can skip.
        checker.check(conv(4, 4, k: (7, 7), padding: .same(lower: false), groups: 4, activation: .silu), [x])
        checker.check(conv(4, 4, k: (3, 3), stride: (2, 1), padding: .explicit(top: 0, left: 1, bottom: 1, right: 1),
                           groups: 4, activation: .relu6), [x])
    }

    func testSqueezeExcitation() {
        let block = SqueezeExcitation(reduce: conv(5, 2, k: (1, 1), activation: .silu),
                                      expand: conv(2, 5, k: (1, 1), activation: .sigmoid))
        checker.check(block, [randomTensor([2, 5, 4, 3], seed: 22)])
    }

    func testPooling() {
        let x = randomTensor([2, 3, 7, 6], seed: 4)
        checker.check(MaxPool2D(kernel: (3, 3), stride: (2, 2), padding: .explicit(top: 1, left: 1, bottom: 1, right: 1)), [x])
        checker.check(MaxPool2D(kernel: (2, 2), stride: (2, 2), ceilMode: true), [x])
        checker.check(MaxPool2D(kernel: (2, 2)), [x])
        checker.check(MaxPool2D(kernel: (2, 3), stride: (1, 2), dilation: (2, 1), padding: .same(lower: false)), [x])
        checker.check(AvgPool2D(kernel: (3, 3), stride: (2, 2), padding: .explicit(top: 1, left: 1, bottom: 1, right: 1)), [x])
        checker.check(AvgPool2D(kernel: (3, 3), stride: (2, 2), padding: .explicit(top: 1, left: 1, bottom: 1, right: 1),
                                ceilMode: true, countIncludePad: true), [x])
        checker.check(GlobalAvgPool(), [x])
    }

    func testDenseAndActivations() {
        let x = randomTensor([3, 10], seed: 5)
        checker.check(Dense(weight: parameter("w", [4, 10], seed: 6), bias: parameter("b", [4], seed: 7)), [x])
        checker.check(Dense(weight: parameter("w", [4, 10], seed: 6), bias: nil, activation: .relu), [x])
        checker.check(Dense(weight: parameter("w", [4, 10], seed: 6), bias: parameter("b", [4], seed: 7)),
                      [randomTensor([1, 10], seed: 8)])
        for activation in [Activation.relu, .relu6, .leakyReLU(alpha: 0.1), .sigmoid, .hardSigmoid(alpha: 0.2, beta: 0.5),
                           .hardSwish, .tanh, .silu] {
            checker.check(ActivationLayer(activation), [randomTensor([2, 3, 4, 4], seed: 8, scale: 4)])
        }
        checker.check(Softmax(axis: 1), [randomTensor([2, 5, 3], seed: 9)])
        checker.check(Softmax(axis: -1, log: true), [randomTensor([2, 5, 3], seed: 9)])
    }

    func testNormalization() {
        let x = randomTensor([3, 4, 3, 3], seed: 10)
        let bn = BatchNorm(name: "bn", channels: 4)
        bn.scale.value = randomTensor([4], seed: 11)
        bn.shift.value = randomTensor([4], seed: 12)
        checker.check(bn, [x], training: true)
        bn.runningVariance.value = Tensor(shape: [4], scalars: [0.5, 1, 2, 3])
        checker.check(bn, [x], training: false)
        checker.check(LRN(size: 3, alpha: 0.5, beta: 0.75, bias: 2), [x])
        checker.check(LRN(size: 4, alpha: 0.5, beta: 0.75, bias: 2), [x])
        checker.check(Dropout(rate: 0.3), [x], training: true)
    }

    func testStructuralOperators() {
        let x = randomTensor([2, 3, 4, 5], seed: 13)
        checker.check(Flatten(), [x])
        checker.check(Reshape([0, -1, 5]), [x])
        checker.check(Transpose(permutation: [0, 2, 3, 1]), [x])
        checker.check(Elementwise(.add), [x, x.map { $0 * 0.5 }, randomTensor([3, 1, 1], seed: 14)])
        checker.check(Elementwise(.sub), [x, randomTensor([5], seed: 15)])
        checker.check(Elementwise(.mul), [x, randomTensor([1, 3, 4, 1], seed: 16)])
        // The one-pass routes: alike, a channel scale on either side, a scalar.
        checker.check(Elementwise(.mul), [x, randomTensor([2, 3, 4, 5], seed: 20)])
        checker.check(Elementwise(.mul), [x, randomTensor([2, 3, 1, 1], seed: 21)])
        checker.check(Elementwise(.mul), [randomTensor([2, 3, 1, 1], seed: 22), x])
        checker.check(Elementwise(.mul), [x, randomTensor([1], seed: 23)])
        checker.check(Elementwise(.div), [x, randomTensor([4, 5], seed: 17).map { $0 > 0 ? $0 + 1 : $0 - 1 }])
        checker.check(Concat(axis: 1), [x, randomTensor([2, 2, 4, 5], seed: 18)])
        checker.check(Concat(axis: -1), [x, randomTensor([2, 3, 4, 1], seed: 19)])
        checker.check(Pad(before: [0, 0, 1, 2], after: [0, 1, 0, 1]), [x])
        checker.check(Pad(before: [0, 0, 2, 1], after: [0, 0, 1, 3], mode: .reflect), [x])
        checker.check(Pad(before: [0, 0, 2, -1], after: [0, 0, 1, 2], mode: .edge), [x])
    }

    /// Saliency backpropagates through the graph the inference optimizer rewrote, whose
    /// operators the checks above do not build: a BatchNorm after no convolution becomes a
    /// per-channel affine pass with the activation after it, and a convolution takes the
    /// residual Add (and the activation after it) into itself. The optimized graph's input
    /// gradient against central differences of sum(output * r).
    func testOptimizedGraphInputGradient() throws {
        let bn = BatchNorm(name: "bn", channels: 4)
        bn.scale.value = randomTensor([4], seed: 30)
        bn.shift.value = randomTensor([4], seed: 31)
        bn.runningMean.value = randomTensor([4], seed: 32)
        bn.runningVariance.value = Tensor(shape: [4], scalars: [0.5, 1, 2, 3])
        let graph = try Graph(name: "block", inputShape: [4, 6, 5], nodes: [
            Node(name: "bn", op: bn, inputs: ["input"]),
            Node(name: "gate", op: ActivationLayer(.sigmoid), inputs: ["bn"]),
            Node(name: "conv", op: conv(4, 4, k: (3, 3), padding: .same(lower: false)), inputs: ["gate"]),
            Node(name: "add", op: Elementwise(.add), inputs: ["conv", "gate"]),
            Node(name: "out", op: ActivationLayer(.tanh), inputs: ["add"]),
        ]).optimizedForInference()
        XCTAssertTrue(graph.nodes.contains { $0.op.kind == "channel_affine" }, "\(graph.nodes.map(\.op.kind))")
        XCTAssertTrue(graph.nodes.contains { $0.op.kind == "conv2d" && $0.inputs.count == 2 }, "no convolution took the residual")
        let executor = Executor(graph: graph)
        let x = randomTensor([2, 4, 6, 5], seed: 33)
        let trace = try executor.forward(x, context: ForwardContext(isTraining: false))
        let r = randomTensor(trace.activations[graph.outputName]!.shape, seed: 34)
        let gradient = try XCTUnwrap(executor.backward(trace, gradient: r, computesParameterGradients: false)["input"])
        func loss(_ x: Tensor) throws -> Double {
            let y = try executor.forward(x, context: ForwardContext(isTraining: false)).activations[graph.outputName]!
            return zip(y.scalars, r.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        for i in stride(from: 0, to: x.count, by: 3) {
            var (plus, minus) = (x, x)
            plus.scalars[i] += 1e-2
            minus.scalars[i] -= 1e-2
            let numeric = Float((try loss(plus) - loss(minus)) / 2e-2)
            XCTAssertEqual(gradient.scalars[i], numeric, accuracy: 2e-2 * max(1, abs(numeric)), "d/d input[\(i)]")
        }
    }
}
