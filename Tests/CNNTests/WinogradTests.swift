import CNN
import XCTest

/// 3x3 stride-1 convolutions with enough channels run through Winograd F(2x2, 3x3) at
/// inference; training mode always runs im2col. The two must agree on every geometry.
final class WinogradTests: XCTestCase {
    func testWinogradMatchesIm2colOnEveryPaddingAndEdge() throws {
        let cases: [(channels: Int, out: Int, height: Int, width: Int, padding: Padding)] = [
            (16, 16, 16, 16, .same(lower: false)),
            (24, 32, 17, 23, .explicit(top: 1, left: 1, bottom: 1, right: 1)),
            (32, 16, 21, 18, .valid),
            (16, 20, 19, 30, .explicit(top: 0, left: 2, bottom: 2, right: 0)),
            (40, 24, 33, 17, .same(lower: true)),
        ]
        var random = RandomSource(seed: 7)
        for (index, c) in cases.enumerated() {
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
            assertClose(winograd, im2col, rtol: 0, atol: 1e-5 * scale, "case \(index) \(shape) \(c.padding)")
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
}
