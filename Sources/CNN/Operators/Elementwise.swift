/// Elementwise arithmetic with numpy broadcasting: `add` takes any number of inputs (residual
/// sums, ONNX Sum), `sub`, `mul` and `div` take two.
public final class Elementwise: Operator {
    public enum Operation: String, Sendable {
        case add, sub, mul, div
    }

    public let operation: Operation
    public var kind: String { operation.rawValue }

    public init(_ operation: Operation) {
        self.operation = operation
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard operation == .add ? inputShapes.count >= 1 : inputShapes.count == 2 else {
            throw ShapeError("\(operation) takes \(operation == .add ? "one or more" : "two") inputs, got \(inputShapes.count)")
        }
        return try Broadcast.shape(inputShapes)
    }

    /// y[i] = y[i] op x[i] (or x[i] alone for the first input). The switch sits outside the
    /// loops so that each case vectorizes.
    private func combine(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int, first: Bool) {
        if first { y.update(from: x, count: count); return }
        switch operation {
        case .add: for i in 0..<count { y[i] += x[i] }
        case .sub: for i in 0..<count { y[i] -= x[i] }
        case .mul: for i in 0..<count { y[i] *= x[i] }
        case .div: for i in 0..<count { y[i] /= x[i] }
        }
    }

    /// y[i] = a[i] op b[i]: the first two inputs in one pass, not a copy and then a combine.
    private func combine(_ y: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) {
        switch operation {
        case .add: for i in 0..<count { y[i] = a[i] + b[i] }
        case .sub: for i in 0..<count { y[i] = a[i] - b[i] }
        case .mul: for i in 0..<count { y[i] = a[i] * b[i] }
        case .div: for i in 0..<count { y[i] = a[i] / b[i] }
        }
    }

    /// y[i] = y[i] op v (or v alone for the first input).
    private func combine(_ y: UnsafeMutablePointer<Float>, _ v: Float, count: Int, first: Bool) {
        if first { y.update(repeating: v, count: count); return }
        switch operation {
        case .add: for i in 0..<count { y[i] += v }
        case .sub: for i in 0..<count { y[i] -= v }
        case .mul: for i in 0..<count { y[i] *= v }
        case .div: for i in 0..<count { y[i] /= v }
        }
    }

    /// The residual-sum case, every input shaped like the output: split by element range.
    private func combineParallel(_ inputs: [TensorView], into output: TensorView) {
        let y = output.scalars
        parallelFor(output.count, cost: inputs.count) { r in
            let out = y + r.lowerBound
            var rest = inputs[...]
            if inputs.count >= 2 {
                combine(out, inputs[0].scalars + r.lowerBound, inputs[1].scalars + r.lowerBound, count: r.count)
                rest = inputs[2...]
            }
            for (k, input) in rest.enumerated() {
                combine(out, input.scalars + r.lowerBound, count: r.count, first: k == 0 && inputs.count == 1)
            }
        }
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let (outShape, y) = (output.shape, output.scalars)
        if inputs.allSatisfy({ $0.shape == outShape }) {
            combineParallel(inputs, into: output)
            return
        }
        for (k, input) in inputs.enumerated() {
            let x = input.scalars
            if input.shape == outShape {
                combine(y, x, count: output.count, first: k == 0)
            } else if let (outer, mid, inner) = Broadcast.run(of: input.shape, in: outShape) {
                var row = y
                for _ in 0..<outer {
                    for m in 0..<mid {
                        combine(row, x[m], count: inner, first: k == 0)
                        row += inner
                    }
                }
            } else {
                let offsets = Broadcast.offsets(of: input.shape, in: outShape)
                for i in 0..<output.count { combine(y + i, x[offsets[i]], count: 1, first: k == 0) }
            }
        }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let g = outputGradient
        switch operation {
        case .add:
            return inputs.map { Broadcast.reduce(g, to: $0.shape) }
        case .sub:
            return [Broadcast.reduce(g, to: inputs[0].shape), Broadcast.reduce(g.map { -$0 }, to: inputs[1].shape)]
        case .mul where inputs[0].shape == g.shape && (inputs[1].shape == g.shape || Broadcast.run(of: inputs[1].shape, in: g.shape) != nil):
            let (da, db) = Elementwise.productGradients(g, full: inputs[0], other: inputs[1])
            return [da, db]
        case .mul where inputs[1].shape == g.shape && Broadcast.run(of: inputs[0].shape, in: g.shape) != nil:
            let (db, da) = Elementwise.productGradients(g, full: inputs[1], other: inputs[0])
            return [da, db]
        case .mul, .div:
            let a = broadcast(inputs[0], to: g.shape), b = broadcast(inputs[1], to: g.shape)
            var da = g, db = g
            for i in 0..<g.count {
                if operation == .mul {
                    da.scalars[i] *= b.scalars[i]
                    db.scalars[i] *= a.scalars[i]
                } else {
                    da.scalars[i] /= b.scalars[i]
                    db.scalars[i] *= -a.scalars[i] / (b.scalars[i] * b.scalars[i])
                }
            }
            return [Broadcast.reduce(da, to: inputs[0].shape), Broadcast.reduce(db, to: inputs[1].shape)]
        }
    }

    /// The gradients of full * other, full shaped like the output and other either alike or
    /// broadcast as one run (squeeze-and-excitation's [N, C, 1, 1] scale over [N, C, H, W], or
    /// SiLU's x * sigmoid(x) in a training graph): one pass, nothing materialized. The general
    /// route built the broadcast operand and both products element by element through offsets,
    /// a quarter of EfficientNet-B0's fine-tuning step.
    private static func productGradients(_ g: Tensor, full: Tensor, other: Tensor) -> (full: Tensor, other: Tensor) {
        let run = other.shape == g.shape ? (outer: 1, mid: g.count, inner: 1) : Broadcast.run(of: other.shape, in: g.shape)!
        var dFull = Tensor(unfilledShape: g.shape)
        var dOther = Tensor(zeros: other.shape)
        g.scalars.withUnsafeBufferPointer { G in
            full.scalars.withUnsafeBufferPointer { A in
                other.scalars.withUnsafeBufferPointer { B in
                    dFull.scalars.withUnsafeMutableBufferPointer { dA in
                        dOther.scalars.withUnsafeMutableBufferPointer { dB in
                            let (gs, a, b, da, db) = (G.baseAddress!, A.baseAddress!, B.baseAddress!, dA.baseAddress!, dB.baseAddress!)
                            var k = 0
                            for _ in 0..<run.outer {
                                for m in 0..<run.mid {
                                    let scale = b[m]
                                    var sum: Float = 0
                                    for i in k..<(k + run.inner) {
                                        da[i] = gs[i] * scale
                                        sum += gs[i] * a[i]
                                    }
                                    db[m] += sum
                                    k += run.inner
                                }
                            }
                        }
                    }
                }
            }
        }
        return (dFull, dOther)
    }

    private func broadcast(_ x: Tensor, to shape: [Int]) -> Tensor {
        if x.shape == shape { return x }
        return Tensor(shape: shape, scalars: Broadcast.offsets(of: x.shape, in: shape).map { x.scalars[$0] })
    }
}
