import CNN
import XCTest

/// Max pooling's fast paths (separable passes, eight stride-2 outputs per vector step) against
/// the definition: the largest tap of each window, padding never winning, NaN winning.
final class PoolingTests: XCTestCase {
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
        for (kernel, stride, pad) in [(3, 2, 0), (3, 2, 1), (2, 2, 0), (5, 2, 2), (3, 1, 1)] {
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
}
