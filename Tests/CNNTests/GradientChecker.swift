import CNN
import XCTest

/// Compares an operator's backward pass with central finite differences of the scalar
/// loss L = sum(output * R) for a fixed random R, over inputs and parameters.
///
/// ReLU and max pooling have kinks where a finite difference straddles two linear pieces;
/// a coordinate whose differences at step h and h/2 disagree is such a kink and is skipped,
/// but never more than a fifth of the coordinates checked.
final class GradientChecker {
    var epsilon: Float = 1e-2
    var tolerance: Float = 2e-2
    var seed: UInt64 = 7

    func loss(_ op: Operator, _ inputs: [Tensor], _ r: Tensor, training: Bool) -> Double {
        let out = forward(op, inputs, training: training)
        return zip(out.scalars, r.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }

    func forward(_ op: Operator, _ inputs: [Tensor], training: Bool) -> Tensor {
        var output = Tensor(zeros: try! op.outputShape(for: inputs.map(\.shape)))
        op.forward(inputs, into: &output, context: ForwardContext(isTraining: training, random: RandomSource(seed: seed)))
        return output
    }

    func check(_ op: Operator, _ inputs: [Tensor], training: Bool = false, checkInputs: Set<Int>? = nil,
               file: StaticString = #filePath, line: UInt = #line) {
        var random = RandomSource(seed: 99)
        let outShape = try! op.outputShape(for: inputs.map(\.shape))
        let r = Tensor(shape: outShape, scalars: (0..<outShape.reduce(1, *)).map { _ in random.nextNormal() })
        for p in op.parameters { p.zeroGradient() }
        (kinks, checked) = (0, 0)
        let context = ForwardContext(isTraining: training, random: RandomSource(seed: seed))
        var output = Tensor(zeros: outShape)
        op.forward(inputs, into: &output, context: context)
        let grads = op.backward(inputs, output: output, outputGradient: r,
                                context: BackwardContext(forward: context, computesParameterGradients: true))
        XCTAssertEqual(grads.count, inputs.count, "one gradient per input", file: file, line: line)
        for (k, input) in inputs.enumerated() where checkInputs?.contains(k) ?? true {
            guard let g = grads[k] else {
                XCTFail("\(op.kind) gave no gradient for input \(k); pass checkInputs to leave it out", file: file, line: line)
                continue
            }
            XCTAssertEqual(g.shape, input.shape, file: file, line: line)
            for i in indices(input.count) {
                let numeric = difference { h in
                    var shifted = inputs
                    shifted[k].scalars[i] += h
                    return loss(op, shifted, r, training: training)
                }
                assertClose(g.scalars[i], numeric, "\(op.kind) d/d input\(k)[\(i)]", file: file, line: line)
            }
        }
        for p in op.parameters {
            let analytic = p.gradient
            for i in indices(p.value.count) {
                let saved = p.value.scalars[i]
                let numeric = difference { h in
                    p.value.scalars[i] = saved + h
                    defer { p.value.scalars[i] = saved }
                    return loss(op, inputs, r, training: training)
                }
                assertClose(analytic.scalars[i], numeric, "\(op.kind) d/d \(p.name)[\(i)]", file: file, line: line)
            }
        }
        XCTAssertLessThanOrEqual(kinks * 5, checked, "\(op.kind): too many coordinates at kinks", file: file, line: line)
    }

    private var kinks = 0
    private var checked = 0

    /// The central difference at step epsilon, or nil at a kink.
    private func difference(_ f: (Float) -> Double) -> Float? {
        let coarse = (f(epsilon) - f(-epsilon)) / Double(2 * epsilon)
        let fine = (f(epsilon / 2) - f(-epsilon / 2)) / Double(epsilon)
        checked += 1
        guard abs(coarse - fine) <= Double(tolerance) * max(1, abs(fine)) else {
            kinks += 1
            return nil
        }
        return Float(fine)
    }

    /// Up to 60 indices spread over the tensor, so big tensors stay cheap to check.
    private func indices(_ count: Int) -> [Int] {
        count <= 60 ? Array(0..<count) : (0..<60).map { $0 * count / 60 }
    }

    private func assertClose(_ a: Float, _ b: Float?, _ what: String, file: StaticString, line: UInt) {
        guard let b else { return }
        let scale = max(1, abs(a), abs(b))
        XCTAssertLessThanOrEqual(abs(a - b), tolerance * scale, "\(what): backward \(a), finite difference \(b)",
                                 file: file, line: line)
    }
}

func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var random = RandomSource(seed: seed)
    return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in scale * random.nextNormal() })
}

func parameter(_ name: String, _ shape: [Int], seed: UInt64, scale: Float = 0.5) -> Parameter {
    Parameter(name: name, value: randomTensor(shape, seed: seed, scale: scale))
}
