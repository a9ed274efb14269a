import CNN
import XCTest

/// Convolutions with few input channels (a network's first layer) run through a direct kernel
/// where the CPU has AVX2, depthwise ones through another. They must match the definition on
/// every stride, padding and row width, the last vector of a row included, with bias, a fused
/// residual and an activation.
final class DirectConvolutionTests: XCTestCase {
    /// y[s, o, h, w] = b[o] + Σ x[s, g·ci + i, h·sh + r - top, w·sw + c - left] · W[o, i, r, c], in
    /// Double, where g is the group of output channel o and ci the input channels per group.
    private func definition(_ x: Tensor, weight: Tensor, bias: Tensor, stride: (Int, Int), top: Int, left: Int,
                            groups: Int = 1, outputShape: [Int]) -> [Double] {
        let (n, channels, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (co, ci, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        let (ho, wo) = (outputShape[2], outputShape[3])
        var y = [Double](repeating: 0, count: n * co * ho * wo)
        for s in 0..<n {
            for o in 0..<co {
                for oy in 0..<ho {
                    for ox in 0..<wo {
                        var sum = Double(bias.scalars[o])
                        let firstChannel = o / (co / groups) * ci
                        for i in 0..<ci {
                            for r in 0..<kh {
                                let iy = oy * stride.0 + r - top
                                guard iy >= 0 && iy < h else { continue }
                                for c in 0..<kw {
                                    let ix = ox * stride.1 + c - left
                                    guard ix >= 0 && ix < w else { continue }
                                    sum += Double(x.scalars[((s * channels + firstChannel + i) * h + iy) * w + ix])
                                        * Double(weight.scalars[((o * ci + i) * kh + r) * kw + c])
                                }
                            }
                        }
                        y[((s * co + o) * ho + oy) * wo + ox] = sum
                    }
                }
            }
        }
        return y
    }

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
            let sums = definition(x, weight: weight, bias: bias, stride: c.stride, top: c.pads.0, left: c.pads.1,
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

    /// 3x3 depthwise layers at stride 1 (a plane at a time) and 2 (rows split into even and odd
    /// columns), on odd and even widths, every padding, and a channel multiplier.
    func testDepthwiseMatchesTheDefinition() throws {
        let cases: [(channels: Int, multiplier: Int, stride: (Int, Int), height: Int, width: Int, pads: (Int, Int, Int, Int))] = [
            (6, 1, (2, 2), 14, 14, (1, 1, 1, 1)),
            (5, 1, (2, 2), 15, 37, (1, 1, 1, 1)),
            (4, 2, (2, 2), 20, 41, (0, 0, 0, 0)),
            (3, 1, (2, 2), 9, 40, (0, 1, 1, 0)),
            (3, 1, (1, 2), 11, 35, (1, 0, 2, 1)),
            (4, 1, (1, 1), 13, 29, (1, 1, 1, 1)),
            (6, 2, (1, 1), 7, 7, (1, 1, 1, 1)),
            (3, 1, (1, 1), 14, 9, (0, 2, 1, 0)),
            (3, 1, (2, 1), 12, 9, (1, 1, 1, 1)),
        ]
        var random = RandomSource(seed: 9)
        for (index, c) in cases.enumerated() {
            let out = c.channels * c.multiplier
            let weight = Tensor(shape: [out, 1, 3, 3], scalars: (0..<(out * 9)).map { _ in Float.random(in: -0.5...0.5, using: &random) })
            let bias = Tensor(shape: [out], scalars: (0..<out).map { _ in Float.random(in: -0.5...0.5, using: &random) })
            let conv = Conv2D(weight: Parameter(name: "w", value: weight), bias: Parameter(name: "b", value: bias), stride: c.stride,
                              padding: .explicit(top: c.pads.0, left: c.pads.1, bottom: c.pads.2, right: c.pads.3),
                              groups: c.channels)
            let shape = [2, c.channels, c.height, c.width]
            let x = Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &random) })
            let outputShape = try conv.outputShape(for: [shape])
            let expected = Tensor(shape: outputShape, scalars: definition(
                x, weight: weight, bias: bias, stride: c.stride, top: c.pads.0, left: c.pads.1, groups: c.channels,
                outputShape: outputShape).map { Float($0) })
            var y = Tensor(zeros: outputShape)
            conv.forward([x], into: &y, context: ForwardContext(isTraining: false))
            assertClose(y, expected, rtol: 0, atol: 1e-5 * (expected.scalars.map(abs).max() ?? 1), "case \(index) \(shape) stride \(c.stride)")
        }
    }
}
