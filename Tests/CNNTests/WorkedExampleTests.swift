import CNN
import XCTest

/// The worked examples of the engine issue, reproduced exactly.
final class WorkedExampleTests: XCTestCase {
    func testMaxPoolForwardAndBackward() {
        let x = Tensor(shape: [1, 1, 5, 5], scalars: [2, 4, 8, 3, 6, 9, 3, 4, 2, 5, 5, 4, 6, 3, 1, 2, 3, 1, 3, 4, 2, 7, 4, 5, 7])
        let pool = MaxPool2D(kernel: (3, 3), stride: (1, 1))
        let checker = GradientChecker()
        let y = checker.forward(pool, [x], training: false)
        XCTAssertEqual(y.shape, [1, 1, 3, 3])
        XCTAssertEqual(y.scalars, [9, 8, 8, 9, 6, 6, 7, 7, 7])
        let g = Tensor(shape: [1, 1, 3, 3], scalars: [1, 3, 1, 1, 4, 2, 6, 2, 1])
        let dx = pool.backward([x], output: y, outputGradient: g,
                               context: BackwardContext(forward: ForwardContext(isTraining: false),
                                                        computesParameterGradients: false))[0]!
        var expected = [Float](repeating: 0, count: 25)
        expected[1 * 5 + 0] = 2
        expected[0 * 5 + 2] = 4
        expected[2 * 5 + 2] = 6
        expected[4 * 5 + 1] = 8
        expected[4 * 5 + 4] = 1
        XCTAssertEqual(dx.scalars, expected)
    }

    /// A tie goes to the first maximum in scan order; a NaN takes its window's gradient.
    func testMaxPoolBackwardOnTiesAndNaN() {
        let x = Tensor(shape: [1, 1, 2, 4], scalars: [3, 5, 5, 3, 5, 1, .nan, 4])
        let pool = MaxPool2D(kernel: (2, 2))
        let y = GradientChecker().forward(pool, [x], training: false)
        XCTAssertEqual(y.scalars[0], 5)
        XCTAssertTrue(y.scalars[1].isNaN)
        let dx = pool.backward([x], output: y, outputGradient: Tensor(shape: [1, 1, 1, 2], scalars: [2, 7]),
                               context: BackwardContext(forward: ForwardContext(isTraining: false),
                                                        computesParameterGradients: false))[0]!
        XCTAssertEqual(dx.scalars, [0, 2, 0, 0, 0, 0, 7, 0])

        // Several NaNs: the last in scan order takes the gradient, as in the general path.
        let nans = Tensor(shape: [1, 1, 2, 2], scalars: [.nan, 1, .nan, 2])
        let m = GradientChecker().forward(pool, [nans], training: false)
        let dNaNs = pool.backward([nans], output: m, outputGradient: Tensor(shape: [1, 1, 1, 1], scalars: [3]),
                                  context: BackwardContext(forward: ForwardContext(isTraining: false),
                                                           computesParameterGradients: false))[0]!
        XCTAssertEqual(dNaNs.scalars, [0, 0, 3, 0])
    }
}
