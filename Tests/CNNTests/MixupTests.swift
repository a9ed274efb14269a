import CNN
import XCTest

/// Mixup: λ's distribution, the blended images, and the blended loss against central differences.
final class MixupTests: XCTestCase {
    /// Beta(a, b) has mean a / (a + b) and variance ab / ((a + b)² (a + b + 1)); Gamma(k) mean and variance k.
    func testDrawsHaveTheirDistributionsMoments() {
        var random = RandomSource(seed: 7)
        let n = 40_000
        func moments(_ draw: () -> Float) -> (mean: Double, variance: Double) {
            let values = (0..<n).map { _ in Double(draw()) }
            let mean = values.reduce(0, +) / Double(n)
            return (mean, values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n - 1))
        }
        for (a, b) in [(Float(0.4), Float(0.4)), (2, 5), (1, 1)] {
            let (mean, variance) = moments { random.nextBeta(a, b) }
            let (s, p) = (Double(a + b), Double(a * b))
            XCTAssertEqual(mean, Double(a) / s, accuracy: 0.01, "Beta(\(a), \(b))")
            XCTAssertEqual(variance, p / (s * s * (s + 1)), accuracy: 0.05 * p / (s * s * (s + 1)), "Beta(\(a), \(b))")
        }
        for shape: Float in [0.4, 3] {
            let (mean, variance) = moments { random.nextGamma(shape) }
            XCTAssertEqual(mean, Double(shape), accuracy: 0.03 * Double(shape), "Gamma(\(shape))")
            XCTAssertEqual(variance, Double(shape), accuracy: 0.06 * Double(shape), "Gamma(\(shape))")
        }
    }

    func testEachImageIsBlendedWithItsPartnerAndStaysNearerItsOwn() {
        var random = RandomSource(seed: 1)
        let batch = LabeledImages(images: Tensor(shape: [4, 1, 2, 2], scalars: (0..<16).map { _ in random.nextUniform() }),
                                  labels: [0, 1, 2, 1])
        for seed: UInt64 in 0..<20 {
            var draws = RandomSource(seed: seed)
            let mixed = Mixup(alpha: 0.4).mix(batch, random: &draws)
            XCTAssertGreaterThanOrEqual(mixed.lambda, 0.5)
            XCTAssertLessThanOrEqual(mixed.lambda, 1)
            XCTAssertEqual(mixed.partners.sorted(), [0, 1, 2, 3])
            for s in 0..<4 {
                for i in 0..<4 {
                    let expected = mixed.lambda * batch.images.scalars[s * 4 + i]
                        + (1 - mixed.lambda) * batch.images.scalars[mixed.partners[s] * 4 + i]
                    XCTAssertEqual(mixed.images.scalars[s * 4 + i], expected, accuracy: 1e-6)
                }
            }
        }
    }

    func testLossIsTheBlendOfBothLabelsLossesAndItsGradientMatchesFiniteDifferences() {
        let logits = Tensor(shape: [3, 4], scalars: [0.5, -1, 2, 0.1, 1, 1, -0.3, 0, -2, 0.4, 0.2, 1.5])
        let labels = [2, 0, 3]
        let mixed = Mixup.Mixed(images: Tensor(zeros: [3, 1]), lambda: 0.7, partners: [1, 2, 0])
        let (loss, gradient) = Mixup.loss(logits: logits, labels: labels, mixed: mixed, labelSmoothing: 0.1)
        let own = softmaxCrossEntropy(logits: logits, labels: labels, labelSmoothing: 0.1).loss
        let other = softmaxCrossEntropy(logits: logits, labels: [0, 3, 2], labelSmoothing: 0.1).loss
        XCTAssertEqual(loss, 0.7 * own + 0.3 * other, accuracy: 1e-6)
        let h: Float = 1e-2
        for i in logits.scalars.indices {
            var plus = logits, minus = logits
            plus.scalars[i] += h
            minus.scalars[i] -= h
            let numeric = (Mixup.loss(logits: plus, labels: labels, mixed: mixed, labelSmoothing: 0.1).loss
                - Mixup.loss(logits: minus, labels: labels, mixed: mixed, labelSmoothing: 0.1).loss) / (2 * h)
            XCTAssertEqual(gradient.scalars[i], numeric, accuracy: 1e-3, "logit \(i)")
        }
    }
}
