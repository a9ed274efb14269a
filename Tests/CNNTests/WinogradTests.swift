import CNN
import XCTest

/// 3x3 stride-1 convolutions with enough channels run through Winograd F(2x2, 3x3) at
/// inference; training mode always runs im2col. The two must agree on every geometry. Backward
/// computes such a convolution's input gradient through Winograd too, in saliency and training.
final class WinogradTests: XCTestCase {
    /// On two and three threads, so that layers with few bands and many channel pairs (the last
    /// two cases) run in phases shared by the threads, and the others in whole bands per thread,
    /// with shares that do and do not divide evenly.
    func testWinogradMatchesIm2colOnEveryPaddingAndEdge() throws {
        let previous = EngineThreads.count
        defer { EngineThreads.set(previous) }
        let cases: [(channels: Int, out: Int, height: Int, width: Int, padding: Padding)] = [
            (16, 16, 16, 16, .same(lower: false)),
            (24, 32, 17, 23, .explicit(top: 1, left: 1, bottom: 1, right: 1)),
            (32, 16, 21, 18, .valid),
            (16, 20, 19, 30, .explicit(top: 0, left: 2, bottom: 2, right: 0)),
            (40, 24, 33, 17, .same(lower: true)),
            (128, 128, 27, 26, .same(lower: false)),
            (128, 160, 13, 14, .explicit(top: 1, left: 0, bottom: 0, right: 1)),
        ]
        var random = RandomSource(seed: 7)
        for (index, c) in cases.enumerated() {
            EngineThreads.set(2 + index % 2)
            let weight = Tensor(shape: [c.out, c.channels, 3, 3],
                                scalars: (0..<(c.out * c.channels * 9)).map { _ in Float.random(in: -0.2...0.2, using: &random) })
            let bias = Tensor(shape: [c.out], scalars: (0..<c.out).map { _ in Float.random(in: -0.5...0.5, using: &random) })
            let conv = Conv2D(weight: Parameter(name: "w", value: weight), bias: Parameter(name: "b", value: bias),
                              padding: c.padding, activation: index.isMultiple(of: 2) ? .relu : nil)
            let shape = [2, c.channels, c.height, c.width]
            let x = Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &random) })
            let outputShape = try conv.outputShape(for: [shape])
            var winograd = Tensor(zeros: outputShape)
            conv.forward([x], into: &winograd, context: ForwardContext(isTraining: false))
            var im2col = Tensor(zeros: outputShape)
            conv.forward([x], into: &im2col, context: ForwardContext(isTraining: true))
            let scale = im2col.scalars.map(abs).max() ?? 1
            assertClose(winograd, im2col, rtol: 0, atol: 1e-5 * scale,
                        "case \(index) \(shape) \(c.padding) on \(EngineThreads.count) threads")
        }
    }

    func testTransformedFiltersFollowWeightUpdates() throws {
        let weight = Parameter(name: "w", value: Tensor(shape: [16, 16, 3, 3], repeating: 0.1))
        let conv = Conv2D(weight: weight, bias: nil, padding: .same(lower: false))
        let x = Tensor(shape: [1, 16, 16, 16], repeating: 1)
        var before = Tensor(zeros: [1, 16, 16, 16])
        conv.forward([x], into: &before, context: ForwardContext(isTraining: false))
        weight.value.scalars[0] = 5
        var after = Tensor(zeros: [1, 16, 16, 16])
        conv.forward([x], into: &after, context: ForwardContext(isTraining: false))
        var reference = Tensor(zeros: [1, 16, 16, 16])
        conv.forward([x], into: &reference, context: ForwardContext(isTraining: true))
        XCTAssertNotEqual(before, after, "a changed weight changes the output")
        assertClose(after, reference, rtol: 0, atol: 1e-4)
    }

    /// dX[s, i, h, w] = Σ dY[s, o, h + top - r, w + left - c] · W[o, i, r, c], summed in Double
    /// straight from the definition.
    private func directInputGradient(_ gy: Tensor, weight: Tensor, inputShape: [Int], top: Int, left: Int) -> Tensor {
        let (n, ci, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let (co, ho, wo) = (gy.shape[1], gy.shape[2], gy.shape[3])
        var dx = [Float](repeating: 0, count: n * ci * h * w)
        for s in 0..<n {
            for i in 0..<ci {
                for y in 0..<h {
                    for x in 0..<w {
                        var sum = 0.0
                        for o in 0..<co {
                            for r in 0..<3 {
                                let oy = y + top - r
                                guard oy >= 0 && oy < ho else { continue }
                                for c in 0..<3 {
                                    let ox = x + left - c
                                    guard ox >= 0 && ox < wo else { continue }
                                    sum += Double(gy.scalars[((s * co + o) * ho + oy) * wo + ox])
                                        * Double(weight.scalars[((o * ci + i) * 3 + r) * 3 + c])
                                }
                            }
                        }
                        dx[((s * ci + i) * h + y) * w + x] = Float(sum)
                    }
                }
            }
        }
        return Tensor(shape: inputShape, scalars: dx)
    }

    func testInputGradientMatchesDirectConvolutionOnEveryPadding() throws {
        // The last case has too few channels for Winograd and checks the im2col path beside it;
        // a padding of 3 crops the output gradient instead of padding it.
        let cases: [(channels: Int, out: Int, batch: Int, height: Int, width: Int, pads: (Int, Int, Int, Int))] = [
            (16, 16, 2, 17, 23, (1, 1, 1, 1)),
            (24, 16, 3, 21, 18, (0, 0, 0, 0)),
            (16, 32, 2, 19, 17, (2, 2, 2, 2)),
            (20, 24, 2, 18, 31, (0, 2, 2, 0)),
            (16, 16, 2, 23, 19, (2, 1, 0, 2)),
            (16, 20, 1, 17, 21, (3, 0, 1, 2)),
            (8, 16, 2, 17, 19, (1, 2, 0, 1)),
        ]
        var random = RandomSource(seed: 11)
        for (index, c) in cases.enumerated() {
            let weight = Tensor(shape: [c.out, c.channels, 3, 3],
                                scalars: (0..<(c.out * c.channels * 9)).map { _ in Float.random(in: -0.2...0.2, using: &random) })
            let conv = Conv2D(weight: Parameter(name: "w", value: weight), bias: nil,
                              padding: .explicit(top: c.pads.0, left: c.pads.1, bottom: c.pads.2, right: c.pads.3),
                              activation: index.isMultiple(of: 2) ? .relu : nil)
            let shape = [c.batch, c.channels, c.height, c.width]
            let x = Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &random) })
            let outputShape = try conv.outputShape(for: [shape])
            let gy = Tensor(shape: outputShape,
                            scalars: (0..<outputShape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &random) })
            // Saliency (inference forward, no weight gradients) and training take different branches.
            for training in [false, true] {
                let forward = ForwardContext(isTraining: training)
                var y = Tensor(zeros: outputShape)
                conv.forward([x], into: &y, context: forward)
                // A fused ReLU passes the gradient only where it let the output through.
                let passed = conv.activation == nil ? gy
                    : Tensor(shape: outputShape, scalars: zip(gy.scalars, y.scalars).map { $1 > 0 ? $0 : 0 })
                let expected = directInputGradient(passed, weight: weight, inputShape: shape, top: c.pads.0, left: c.pads.1)
                let scale = expected.scalars.map(abs).max() ?? 1
                let backward = BackwardContext(forward: forward, computesParameterGradients: training)
                let dx = try XCTUnwrap(conv.backward([x], output: y, outputGradient: gy, context: backward)[0])
                assertClose(dx, expected, rtol: 0, atol: 1e-5 * scale, "case \(index) \(shape) pads \(c.pads) training \(training)")
            }
        }
    }

    func testInputGradientFiltersFollowWeightUpdates() throws {
        let weight = Parameter(name: "w", value: Tensor(shape: [16, 16, 3, 3], repeating: 0.1))
        let conv = Conv2D(weight: weight, bias: nil, padding: .same(lower: false))
        let x = Tensor(shape: [1, 16, 16, 16], repeating: 1)
        let gy = randomTensor([1, 16, 16, 16], seed: 3)
        func inputGradient() throws -> Tensor {
            let forward = ForwardContext(isTraining: false)
            var y = Tensor(zeros: [1, 16, 16, 16])
            conv.forward([x], into: &y, context: forward)
            let backward = BackwardContext(forward: forward, computesParameterGradients: false)
            return try XCTUnwrap(conv.backward([x], output: y, outputGradient: gy, context: backward)[0])
        }
        let before = try inputGradient()
        weight.value.scalars[0] = 5
        let after = try inputGradient()
        XCTAssertNotEqual(before, after, "a changed weight changes the input gradient")
        let expected = directInputGradient(gy, weight: weight.value, inputShape: x.shape, top: 1, left: 1)
        assertClose(after, expected, rtol: 0, atol: 1e-5 * (expected.scalars.map(abs).max() ?? 1))
    }
}
