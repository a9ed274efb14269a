import CNN
import XCTest

/// Max pooling's fast paths against the definition. Forward: separable passes, and eight
/// stride-2 outputs per vector step; padding never wins, NaN does. Backward: 2x2 pooling with
/// stride 2 (VGG's) has its own kernel, which must route gradients as the general one does, to
/// the first maximum in scan order or the last NaN.
final class MaxPoolTests: XCTestCase {
    /// The gradient of each window routed by scanning its four pixels.
    private func routed(_ x: Tensor, _ gy: Tensor) -> [Float] {
        let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
        let (ho, wo) = (h / 2, w / 2)
        var dx = [Float](repeating: 0, count: x.count)
        for p in 0..<planes {
            for oh in 0..<ho {
                for ow in 0..<wo {
                    var best = -1
                    for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        let index = (p * h + 2 * oh + i) * w + 2 * ow + j
                        if best < 0 || x.scalars[index] > x.scalars[best] || x.scalars[index].isNaN { best = index }
                    }
                    dx[best] += gy.scalars[(p * ho + oh) * wo + ow]
                }
            }
        }
        return dx
    }

    func testPairedBackwardRoutesTiesAndNaNLikeTheGeneralRule() throws {
        var random = RandomSource(seed: 5)
        // Odd and even sizes, widths with and without a partial group of four windows.
        for shape in [[2, 3, 9, 21], [1, 2, 8, 16], [1, 1, 5, 7], [3, 1, 12, 34]] {
            // Few distinct values, so that windows often tie; a few NaNs.
            var scalars = (0..<shape.reduce(1, *)).map { _ in Float(Int.random(in: 0...3, using: &random)) }
            for _ in 0..<3 { scalars[Int.random(in: 0..<scalars.count, using: &random)] = .nan }
            let x = Tensor(shape: shape, scalars: scalars)
            let pool = MaxPool2D(kernel: (2, 2))
            let forward = ForwardContext(isTraining: false)
            let outputShape = try pool.outputShape(for: [shape])
            var y = Tensor(zeros: outputShape)
            pool.forward([x], into: &y, context: forward)
            let gy = Tensor(shape: outputShape, scalars: (0..<outputShape.reduce(1, *)).map { Float($0 + 1) })
            let dx = try XCTUnwrap(pool.backward([x], output: y, outputGradient: gy,
                                                 context: BackwardContext(forward: forward, computesParameterGradients: false))[0])
            XCTAssertEqual(dx.scalars, routed(x, gy), "\(shape)")
        }
    }

    private func definition(_ x: Tensor, kernel: Int, stride: Int, pad: Int, outputHeight: Int,
                            outputWidth: Int) -> [Float] {
        let (planes, H, W) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
        var y: [Float] = []
        for p in 0..<planes {
            for oh in 0..<outputHeight {
                for ow in 0..<outputWidth {
                    var best = -Float.infinity
                    for i in 0..<kernel {
                        for j in 0..<kernel {
                            let (ih, iw) = (oh * stride - pad + i, ow * stride - pad + j)
                            guard ih >= 0, ih < H, iw >= 0, iw < W else { continue }
                            let v = x.scalars[(p * H + ih) * W + iw]
                            if v > best || v.isNaN { best = v }
                            if best.isNaN { break }
                        }
                        if best.isNaN { break }
                    }
                    y.append(best)
                }
            }
        }
        return y
    }

    func testStridedMaxPoolMatchesTheDefinition() {
        var x = randomTensor([2, 3, 13, 45], seed: 31)
        x.scalars[100] = .nan
        x.scalars[1000] = .nan
        // NaN in the first and last columns, which the same-size stride-1 pools fold apart.
        x.scalars[5 * 45] = .nan
        x.scalars[7 * 45 + 44] = .nan
        for (kernel, stride, pad) in [(3, 2, 0), (3, 2, 1), (2, 2, 0), (5, 2, 2), (3, 1, 1), (5, 1, 2)] {
            let pool = MaxPool2D(kernel: (kernel, kernel), stride: (stride, stride),
                                 padding: .explicit(top: pad, left: pad, bottom: pad, right: pad))
            let y = GradientChecker().forward(pool, [x], training: false)
            let expected = definition(x, kernel: kernel, stride: stride, pad: pad,
                                      outputHeight: y.shape[2], outputWidth: y.shape[3])
            XCTAssertEqual(y.count, expected.count)
            for (a, b) in zip(y.scalars, expected) {
                XCTAssertTrue(a == b || (a.isNaN && b.isNaN), "kernel \(kernel) stride \(stride) pad \(pad): \(a) vs \(b)")
            }
        }
    }

    /// The gradient of every output routed to its window's first maximum in scan order, padding
    /// never winning: PyTorch's rule.
    private func routedToFirstMaximum(_ x: Tensor, _ gy: Tensor, kernel: Int, stride: Int, pad: Int) -> [Float] {
        let (planes, h, w, ho, wo) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3], gy.shape[2], gy.shape[3])
        var dx = [Float](repeating: 0, count: x.count)
        for p in 0..<planes {
            for oh in 0..<ho {
                for ow in 0..<wo {
                    var best = -1
                    for i in 0..<kernel {
                        for j in 0..<kernel {
                            let (ih, iw) = (oh * stride - pad + i, ow * stride - pad + j)
                            guard ih >= 0, ih < h, iw >= 0, iw < w else { continue }
                            let index = (p * h + ih) * w + iw
                            if best < 0 || x.scalars[index] > x.scalars[best] { best = index }
                        }
                    }
                    dx[best] += gy.scalars[(p * ho + oh) * wo + ow]
                }
            }
        }
        return dx
    }

    /// GoogLeNet's pools (3x3 stride 2 and 2x2 stride 2 with ceil_mode, whose last windows hang
    /// over the edge; 3x3 stride 1 with padding 1, the same-size path, in every Inception
    /// module's fourth branch) on planes of exact ties, as post-ReLU activations have (zeros,
    /// and constant channels): each gradient reaches the first maximum, as in PyTorch. Issue 18
    /// suspected this route for GoogLeNet's saliency; it was exact, and this holds it so.
    func testGoogLeNetPoolsRouteTiesToTheFirstMaximum() throws {
        var random = RandomSource(seed: 9)
        for (kernel, stride, pad) in [(3, 2, 0), (2, 2, 0), (3, 1, 1)] {
            for shape in [[1, 3, 14, 14], [2, 2, 7, 9], [1, 1, 28, 28]] {
                // Channel 0 constant, the others from three values, one all zero.
                let plane = shape[2] * shape[3]
                let scalars = (0..<shape.reduce(1, *)).map { i -> Float in
                    let channel = (i / plane) % shape[1]
                    return channel == 0 ? 0.25 : channel == 2 ? 0 : Float(Int.random(in: 0...2, using: &random))
                }
                let x = Tensor(shape: shape, scalars: scalars)
                let pool = MaxPool2D(kernel: (kernel, kernel), stride: (stride, stride),
                                     padding: .explicit(top: pad, left: pad, bottom: pad, right: pad), ceilMode: true)
                let forward = ForwardContext(isTraining: false)
                var y = Tensor(zeros: try pool.outputShape(for: [shape]))
                pool.forward([x], into: &y, context: forward)
                let gy = Tensor(shape: y.shape, scalars: (0..<y.count).map { Float($0 % 17 + 1) })
                let dx = try XCTUnwrap(pool.backward([x], output: y, outputGradient: gy,
                                                     context: BackwardContext(forward: forward, computesParameterGradients: false))[0])
                XCTAssertEqual(dx.scalars, routedToFirstMaximum(x, gy, kernel: kernel, stride: stride, pad: pad),
                               "kernel \(kernel) stride \(stride) pad \(pad) on \(shape)")
            }
        }
    }
}
