/// A trainable tensor with its accumulated gradient.
///
/// A reference type so that an operator, its optimizer state and a parameter group can all
/// point at the same weights. Inference and saliency never write to it; only training does,
/// and a training run owns its model exclusively.
public final class Parameter: @unchecked Sendable {
    public let name: String
    public var value: Tensor
    public var gradient: Tensor
    /// Frozen parameters keep their value; backward still flows through them to earlier layers.
    public var isTrainable: Bool

    public init(name: String, value: Tensor, isTrainable: Bool = true) {
        self.name = name
        self.value = value
        self.gradient = Tensor(zeros: value.shape)
        self.isTrainable = isTrainable
    }

    public func zeroGradient() {
        gradient.scalars.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }
}
