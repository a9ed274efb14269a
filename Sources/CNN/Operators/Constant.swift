/// A node with no inputs that yields a fixed tensor: an ONNX initializer used as data rather
/// than as a weight, such as a broadcast bias or scale.
public final class Constant: Operator {
    public let kind = "constant"
    public let value: Tensor

    public init(_ value: Tensor) {
        self.value = value
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.isEmpty else { throw ShapeError("a constant takes no inputs") }
        return value.shape
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        value.scalars.withUnsafeBufferPointer { x in _ = output.buffer.update(fromContentsOf: x) }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        []
    }
}
