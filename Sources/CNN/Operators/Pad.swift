/// Pads (or, with negative amounts, crops) every axis: `before[i]` and `after[i]` elements
/// on axis i, filled with a constant, by reflection, or by repeating the edge.
public final class Pad: Operator {
    public enum Mode: String, Sendable {
        case constant, reflect, edge
    }

    public let kind = "pad"
    public let before: [Int]
    public let after: [Int]
    public let mode: Mode
    public let value: Float

    public init(before: [Int], after: [Int], mode: Mode = .constant, value: Float = 0) {
        self.before = before
        self.after = after
        self.mode = mode
        self.value = value
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1, inputShapes[0].count == before.count, before.count == after.count else {
            throw ShapeError("pads for rank \(before.count) do not fit \(inputShapes)")
        }
        let shape = zip(inputShapes[0], zip(before, after)).map { $0 + $1.0 + $1.1 }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw ShapeError("pads crop more than the input holds") }
        if mode == .reflect, zip(inputShapes[0], zip(before, after)).contains(where: { $0 < 2 && ($1.0 > 0 || $1.1 > 0) || $1.0 >= $0 || $1.1 >= $0 }) {
            throw ShapeError("reflect padding must be smaller than the padded axis")
        }
        return shape
    }

    /// The input offset each output element reads, or nil where it takes the constant.
    private func sources(input: [Int], output: [Int]) -> [Int?] {
        let strides = Tensor.strides(of: input)
        var result = [Int?](repeating: nil, count: output.reduce(1, *))
        var index = [Int](repeating: 0, count: output.count)
        for o in 0..<result.count {
            var offset = 0
            var inside = true
            for axis in 0..<output.count {
                var i = index[axis] - before[axis]
                let n = input[axis]
                if i < 0 || i >= n {
                    switch mode {
                    case .constant: inside = false
                    case .edge: i = min(max(i, 0), n - 1)
                    case .reflect:
                        let period = 2 * (n - 1)
                        i = abs(i) % period
                        if i >= n { i = period - i }
                    }
                }
                offset += i * strides[axis]
            }
            result[o] = inside ? offset : nil
            var axis = output.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < output[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
        return result
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let (x, y) = (inputs[0].scalars, output.scalars)
        for (o, source) in sources(input: inputs[0].shape, output: output.shape).enumerated() { y[o] = source.map { x[$0] } ?? value }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        var dx = Tensor(zeros: inputs[0].shape)
        for (o, source) in sources(input: inputs[0].shape, output: output.shape).enumerated() {
            if let source { dx.scalars[source] += outputGradient.scalars[o] }
        }
        return [dx]
    }
}
