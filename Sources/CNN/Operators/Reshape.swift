/// Operators that change a tensor's shape and not its row-major order. Forward copies the
/// scalars into the planned output; backward reshapes the gradient back.
public protocol ShapeOnlyOperator: Operator {}

extension ShapeOnlyOperator {
    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        copyInParallel(output.scalars, from: inputs[0].scalars, count: inputs[0].count)
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        [outputGradient.reshaped(to: inputs[0].shape)]
    }
}

/// Flattens the dimensions from `axis` on: [N, C, H, W] -> [N, C*H*W] with the default axis 1.
public final class Flatten: ShapeOnlyOperator {
    public let kind = "flatten"
    public let axis: Int

    public init(axis: Int = 1) {
        self.axis = axis
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1 else { throw ShapeError("expects one input") }
        let shape = inputShapes[0]
        let a = axis < 0 ? axis + shape.count : axis
        guard a >= 0 && a <= shape.count else { throw ShapeError("axis \(axis) out of range for \(shape)") }
        return [shape[..<a].reduce(1, *), shape[a...].reduce(1, *)]
    }
}

/// Reshape to a target that includes the batch dimension; as in ONNX, 0 copies the input's
/// dimension at that position and one -1 is inferred.
public final class Reshape: ShapeOnlyOperator {
    public let kind = "reshape"
    public let target: [Int]

    public init(_ target: [Int]) {
        self.target = target
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1 else { throw ShapeError("expects one input") }
        let shape = inputShapes[0]
        let count = shape.reduce(1, *)
        var resolved = try target.enumerated().map { i, d -> Int in
            if d == 0 {
                guard i < shape.count else { throw ShapeError("0 at axis \(i) has no input dimension to copy") }
                return shape[i]
            }
            guard d >= -1 else { throw ShapeError("invalid dimension \(d)") }
            return d
        }
        let unknown = resolved.indices.filter { resolved[$0] == -1 }
        guard unknown.count <= 1 else { throw ShapeError("more than one -1 in \(target)") }
        let known = resolved.filter { $0 != -1 }.reduce(1, *)
        if let u = unknown.first {
            guard known > 0, count % known == 0 else { throw ShapeError("cannot reshape \(shape) to \(target)") }
            resolved[u] = count / known
        }
        guard resolved.reduce(1, *) == count else { throw ShapeError("cannot reshape \(shape) to \(target)") }
        return resolved
    }
}
