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

    @inline(__always)
    private func combine(_ a: Float, _ b: Float) -> Float {
        switch operation {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        }
    }

    public func forward(_ inputs: [Tensor], into output: inout Tensor, context: ForwardContext) {
        let outShape = output.shape
        output.scalars.withUnsafeMutableBufferPointer { y in
            for (k, input) in inputs.enumerated() {
                input.scalars.withUnsafeBufferPointer { x in
                    if input.shape == outShape {
                        if k == 0 { for i in 0..<y.count { y[i] = x[i] } }
                        else { for i in 0..<y.count { y[i] = combine(y[i], x[i]) } }
                    } else {
                        let offsets = Broadcast.offsets(of: input.shape, in: outShape)
                        if k == 0 { for i in 0..<y.count { y[i] = x[offsets[i]] } }
                        else { for i in 0..<y.count { y[i] = combine(y[i], x[offsets[i]]) } }
                    }
                }
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

    private func broadcast(_ x: Tensor, to shape: [Int]) -> Tensor {
        if x.shape == shape { return x }
        return Tensor(shape: shape, scalars: Broadcast.offsets(of: x.shape, in: shape).map { x.scalars[$0] })
    }
}
