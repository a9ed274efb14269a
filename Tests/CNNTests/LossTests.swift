import CNN
import XCTest

/// Softmax cross-entropy with and without label smoothing: against PyTorch's
/// `cross_entropy(label_smoothing=)` and against central differences of its own value.
final class LossTests: XCTestCase {
    private let logits = Tensor(shape: [2, 3], scalars: [1, -0.5, 2, 0.3, 0.2, -1])
    private let labels = [2, 0]

    /// torch 2.5.1: `F.cross_entropy(z, y, label_smoothing=s)` and `z.grad` for these logits and labels.
    func testMatchesPyTorch() {
        let references: [(smoothing: Float, loss: Float, gradient: [Float])] = [
            (0, 0.5748282074928284, [0.12685808539390564, 0.028305863961577415, -0.15516397356987,
                                     -0.27036505937576294, 0.20778226852416992, 0.06258281320333481]),
            (0.1, 0.6564948558807373, [0.11019141972064972, 0.011639196425676346, -0.12183064222335815,
                                       -0.2370317280292511, 0.191115602850914, 0.04591614753007889]),
        ]
        for reference in references {
            let (loss, gradient) = softmaxCrossEntropy(logits: logits, labels: labels, labelSmoothing: reference.smoothing)
            XCTAssertEqual(loss, reference.loss, accuracy: 1e-6, "smoothing \(reference.smoothing)")
            for (ours, theirs) in zip(gradient.scalars, reference.gradient) {
                XCTAssertEqual(ours, theirs, accuracy: 1e-6, "smoothing \(reference.smoothing)")
            }
        }
    }

    func testGradientMatchesFiniteDifferences() {
        for smoothing: Float in [0, 0.1, 0.5] {
            let gradient = softmaxCrossEntropy(logits: logits, labels: labels, labelSmoothing: smoothing).gradient
            let h: Float = 1e-2
            for i in logits.scalars.indices {
                var plus = logits, minus = logits
                plus.scalars[i] += h
                minus.scalars[i] -= h
                let numeric = (softmaxCrossEntropy(logits: plus, labels: labels, labelSmoothing: smoothing).loss
                    - softmaxCrossEntropy(logits: minus, labels: labels, labelSmoothing: smoothing).loss) / (2 * h)
                XCTAssertEqual(gradient.scalars[i], numeric, accuracy: 1e-3, "smoothing \(smoothing), logit \(i)")
            }
        }
    }
}
