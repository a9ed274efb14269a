import CNN
import Foundation
import XCTest

/// The vectorized activations against their definitions in Double: the transcendental ones within
/// 2 ulp (exp, sigmoid and tanh by polynomials), the piecewise ones exactly, every backward
/// against the analytic derivative, on a sweep that covers each function's whole working range,
/// lengths that end mid-vector, and the special values.
final class ActivationKernelTests: XCTestCase {
    /// Distance in units in the last place, on the float number line.
    private func ulps(_ a: Float, _ b: Float) -> Int64 {
        if a.isNaN && b.isNaN { return 0 }
        if a == b { return 0 }
        func ordered(_ f: Float) -> Int64 {
            let bits = Int64(Int32(bitPattern: f.bitPattern))
            return bits < 0 ? Int64(Int32.min) - bits : bits
        }
        return abs(ordered(a) - ordered(b))
    }

    private func forward(_ activation: Activation, _ x: [Float]) -> [Float] {
        var y = Tensor(zeros: [x.count])
        ActivationLayer(activation).forward([Tensor(shape: [x.count], scalars: x)], into: &y,
                                            context: ForwardContext(isTraining: false))
        return y.scalars
    }

    private func derivative(_ activation: Activation, _ x: [Float]) -> [Float] {
        let layer = ActivationLayer(activation)
        let input = Tensor(shape: [x.count], scalars: x)
        let context = ForwardContext(isTraining: false)
        var y = Tensor(zeros: [x.count])
        layer.forward([input], into: &y, context: context)
        let ones = Tensor(shape: [x.count], repeating: 1)
        return layer.backward([input], output: y, outputGradient: ones,
                              context: BackwardContext(forward: context, computesParameterGradients: false))[0]!.scalars
    }

    /// x over [lo, hi] in `count` steps (an odd count, so the last vector is partial).
    private func sweep(_ lo: Double, _ hi: Double, count: Int = 200_003) -> [Float] {
        (0..<count).map { Float(lo + (hi - lo) * Double($0) / Double(count - 1)) }
    }

    func testTranscendentalActivationsAreWithinTwoUlps() {
        let cases: [(Activation, (Double) -> Double, ClosedRange<Double>)] = [
            (.sigmoid, { 1 / (1 + exp(-$0)) }, -90...90),
            (.tanh, { tanh($0) }, -12...12),
            (.silu, { $0 / (1 + exp(-$0)) }, -90...90),
        ]
        for (activation, reference, range) in cases {
            let x = sweep(range.lowerBound, range.upperBound) + [0.3, -0.3, 1e-3, -1e-3, 1e-20, -1e-20, 0.6249, 0.6251]
            let y = forward(activation, x)
            var worst: (ulps: Int64, x: Float) = (0, 0)
            for (xi, yi) in zip(x, y) {
                let expected = reference(Double(xi))
                // Below 1e-30 the float arguments lose bits before any kernel sees them.
                guard abs(expected) >= 1e-30 else {
                    XCTAssertLessThanOrEqual(abs(Double(yi) - expected), 1e-30, "\(activation.name)(\(xi))")
                    continue
                }
                let error = ulps(yi, Float(expected))
                if error > worst.ulps { worst = (error, xi) }
            }
            XCTAssertLessThanOrEqual(worst.ulps, 2, "\(activation.name) is \(worst.ulps) ulp off at \(worst.x)")
        }
    }

    /// GELU against x Phi(x) in Double, over [-14, 14]: within 10 ulp from x = -2 up (9 at -1.97,
    /// where erfc as e^-r(t) is 2e-7 off); between -6 and -2, where 0.5 x (1 + erf(x / sqrt 2))
    /// in floats would keep only ~1e-7 |x| absolutely (nothing at all below -5.5), relatively
    /// within 3e-4 (the polynomial was fitted for erf, not for erfc's tail); below -6, where GELU
    /// is under 6e-9, within 2e-12.
    func testGELUIsAccurateIncludingItsNegativeTail() {
        let x = sweep(-14, 14) + [1e-3, -1e-3, 1e-20, -1e-20, 1.3037, -1.3037, 1.3038, -1.3038]
        let y = forward(.gelu, x)
        var worst: (ulps: Int64, x: Float) = (0, 0)
        var worstTail: (relative: Double, x: Float) = (0, 0)
        for (xi, yi) in zip(x, y) {
            let expected = Double(xi) * 0.5 * erfc(-Double(xi) / 2.0.squareRoot())
            if xi >= -2 {
                let error = abs(expected) < 1e-30 ? 0 : ulps(yi, Float(expected))
                if error > worst.ulps { worst = (error, xi) }
            } else if xi >= -6 {
                let relative = abs(Double(yi) - expected) / abs(expected)
                if relative > worstTail.relative { worstTail = (relative, xi) }
            } else {
                XCTAssertEqual(Double(yi), expected, accuracy: 2e-12, "gelu(\(xi))")
            }
        }
        XCTAssertLessThanOrEqual(worst.ulps, 10, "gelu is \(worst.ulps) ulp off at \(worst.x)")
        XCTAssertLessThanOrEqual(worstTail.relative, 3e-4, "gelu is \(worstTail.relative) off at \(worstTail.x)")
        let special = forward(.gelu, [0, .infinity, -.infinity, .nan, -200, 200])
        XCTAssertEqual(special[0], 0)
        XCTAssertEqual(special[1], .infinity)
        XCTAssertTrue(special[3].isNaN)
        XCTAssertEqual(special[4], 0)
        XCTAssertEqual(special[5], 200)
    }

    func testSpecialValues() {
        let x: [Float] = [0, -0, .infinity, -.infinity, .nan, 100, -100, 89, -89, 1e-40]
        XCTAssertEqual(forward(.sigmoid, x).prefix(9).map { $0.isNaN ? -1 : $0 }, [0.5, 0.5, 1, 0, -1, 1, 0, 1, 0])
        let t = forward(.tanh, x)
        XCTAssertEqual(Array(t[0...3]), [0, 0, 1, -1])
        XCTAssertTrue(t[4].isNaN)
        XCTAssertEqual(Array(t[5...8]), [1, -1, 1, -1])
        let s = forward(.silu, x)
        XCTAssertEqual(s[2], .infinity)
        XCTAssertTrue(s[4].isNaN)
        XCTAssertEqual(s[5], 100)
        XCTAssertEqual(s[6], 0, accuracy: 1e-40)
    }

    /// Within a rounding of the argument's scale (an FMA rounds alpha x + beta once where the
    /// definition in floats rounds twice).
    func testPiecewiseActivationsMatchTheirDefinitions() {
        let x = sweep(-8, 8, count: 10_007) + [-3, 3, 0, -0, -6, 6]
        let cases: [(Activation, (Double) -> Double)] = [
            (.relu, { $0 > 0 ? $0 : 0 }),
            (.relu6, { min(max($0, 0), 6) }),
            (.leakyReLU(alpha: 0.1), { $0 < 0 ? Double(Float(0.1)) * $0 : $0 }),
            (.hardSigmoid(alpha: 0.2, beta: 0.5), { min(max(Double(Float(0.2)) * $0 + 0.5, 0), 1) }),
            (.hardSwish, { $0 * min(max($0 / 6 + 0.5, 0), 1) }),
        ]
        for (activation, definition) in cases {
            for (xi, yi) in zip(x, forward(activation, x)) {
                let expected = definition(Double(xi))
                XCTAssertEqual(Double(yi), expected, accuracy: 1.2e-7 * max(1, abs(Double(xi))), "\(activation.name)(\(xi))")
            }
        }
    }

    func testDerivativesMatchTheirDefinitions() {
        let x = sweep(-12, 12, count: 20_011)
        func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
        let cases: [(Activation, (Double) -> Double)] = [
            (.sigmoid, { sigmoid($0) * (1 - sigmoid($0)) }),
            (.tanh, { 1 - tanh($0) * tanh($0) }),
            (.silu, { sigmoid($0) * (1 + $0 * (1 - sigmoid($0))) }),
            (.gelu, { 0.5 * erfc(-$0 / 2.0.squareRoot()) + $0 * exp(-$0 * $0 / 2) / (2 * Double.pi).squareRoot() }),
            (.hardSwish, { $0 < -3 ? 0 : $0 > 3 ? 1 : $0 / 3 + 0.5 }),
            (.hardSigmoid(alpha: 0.2, beta: 0.5), { abs($0) < 2.5 ? 0.2 : 0 }),
            (.relu6, { $0 > 0 && $0 < 6 ? 1 : 0 }),
            (.leakyReLU(alpha: 0.1), { $0 >= 0 ? 1 : 0.1 }),
        ]
        for (activation, reference) in cases {
            for (xi, di) in zip(x, derivative(activation, x)) {
                let expected = reference(Double(xi))
                XCTAssertEqual(Double(di), expected, accuracy: 4e-7 * max(1, abs(expected)), "\(activation.name)'(\(xi))")
            }
        }
    }
}
