import CNN
import XCTest

/// Convolutions with few input channels (a network's first layer) run through a direct kernel
/// where the CPU has AVX2. They must match the definition on every stride, padding and row
/// width, the last vector of a row included, with bias, a fused residual and an activation.
final class DirectConvolutionTests: XCTestCase {
    func testFirstLayersMatchTheDefinition() throws {
        let previous = EngineThreads.count
        defer { EngineThreads.set(previous) }
        // ResNet's stem, SqueezeNet's, AlexNet's and VGG's on small images, a grey one, and odd
        // strides (one longer than its kernel, which im2col keeps).
        let cases: [(channels: Int, out: Int, kernel: (Int, Int), stride: (Int, Int), height: Int, width: Int,
                     pads: (Int, Int, Int, Int))] = [
            (3, 16, (7, 7), (2, 2), 37, 45, (3, 3, 3, 3)),
            (3, 8, (3, 3), (2, 2), 33, 35, (0, 0, 0, 0)),
            (3, 12, (11, 11), (4, 4), 47, 51, (2, 2, 2, 2)),
            (3, 8, (3, 3), (1, 1), 19, 40, (1, 1, 1, 1)),
            (1, 4, (5, 5), (1, 1), 28, 28, (2, 2, 2, 2)),
            (2, 8, (3, 2), (2, 3), 17, 26, (1, 0, 0, 1)),
            (2, 8, (3, 3), (2, 3), 17, 26, (1, 0, 0, 1)),
            (4, 8, (7, 7), (2, 2), 64, 70, (1, 3, 2, 0)),
        ]
        var random = RandomSource(seed: 5)
        for (index, c) in cases.enumerated() {
            EngineThreads.set(1 + index % 3)
            let weight = Tensor(shape: [c.out, c.channels, c.kernel.0, c.kernel.1],
                                scalars: (0..<(c.out * c.channels * c.kernel.0 * c.kernel.1)).map { _ in
                                    Float.random(in: -0.3...0.3, using: &random) })
            let bias = Tensor(shape: [c.out], scalars: (0..<c.out).map { _ in Float.random(in: -0.5...0.5, using: &random) })
            let conv = Conv2D(weight: Parameter(name: "w", value: weight), bias: Parameter(name: "b", value: bias),
                              stride: c.stride, padding: .explicit(top: c.pads.0, left: c.pads.1, bottom: c.pads.2, right: c.pads.3),
                              activation: index.isMultiple(of: 2) ? .relu : nil)
            let shape = [2, c.channels, c.height, c.width]
            let x = Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &random) })
            let outputShape = try conv.outputShape(for: [shape])
            let residual = Tensor(shape: outputShape,
                                  scalars: (0..<outputShape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &random) })
            let sums = convolutionDefinition(x, weight: weight, bias: bias, stride: c.stride, top: c.pads.0, left: c.pads.1,
                                             outputShape: outputShape)
            let scale = Float(sums.map(abs).max() ?? 1)
            for (fused, training) in [(false, false), (true, false), (false, true)] {
                let expected = Tensor(shape: outputShape, scalars: sums.enumerated().map { i, sum in
                    let v = Float(sum) + (fused ? residual.scalars[i] : 0)
                    return conv.activation == nil ? v : max(v, 0)
                })
                var y = Tensor(zeros: outputShape)
                conv.forward(fused ? [x, residual] : [x], into: &y, context: ForwardContext(isTraining: training))
                assertClose(y, expected, rtol: 0, atol: 1e-5 * scale,
                            "case \(index) \(shape) residual \(fused) training \(training) on \(EngineThreads.count) threads")
            }
        }
    }
}
