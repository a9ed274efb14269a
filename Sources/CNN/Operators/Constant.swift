/// A node with no inputs that yields a tensor: an ONNX initializer used as data rather than as a
/// convolution's or Gemm's weight (a broadcast bias or scale, LayerNorm's affine spelled out,
/// ConvNeXt's layer scale), or a literal.
///
/// An initializer is a weight of the exported model, so it is a Parameter that fine-tuning
/// trains; a literal (an ONNX Constant node, a value folded at import) is fixed.
public final class Constant: Operator {
    public let kind = "constant"
    private let storage: Storage

    private enum Storage {
        case fixed(Tensor)
        case weight(Parameter)
    }

    public init(_ value: Tensor) {
        storage = .fixed(value)
    }

    public init(weight: Parameter) {
        storage = .weight(weight)
    }

    public var value: Tensor {
        switch storage {
        case let .fixed(tensor): return tensor
        case let .weight(parameter): return parameter.value
        }
    }

    /// Whether the value is a weight (an initializer) rather than a literal.
    public var isWeight: Bool { !parameters.isEmpty }

    public var parameters: [Parameter] {
        if case let .weight(parameter) = storage { return [parameter] }
        return []
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
        if case let .weight(parameter) = storage, context.computesParameterGradients, parameter.isTrainable {
            parameter.gradient.add(outputGradient)
        }
        return []
    }
}
