/// A shape over scalars held elsewhere: what operators read and write. Planned inference hands
/// every operator views into one buffer the executor allocated once, so that a run allocates
/// nothing; a forward pass over `Tensor`s (training, saliency) views their arrays.
///
/// An operator only reads its input views and writes all of its output view.
public struct TensorView {
    public let shape: [Int]
    public let scalars: UnsafeMutablePointer<Float>
    public let count: Int

    public init(shape: [Int], scalars: UnsafeMutablePointer<Float>) {
        self.shape = shape
        self.scalars = scalars
        count = shape.reduce(1, *)
    }

    public var rank: Int { shape.count }

    /// The scalars as a buffer, for loops that want one.
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: scalars, count: count) }
}

extension Tensor {
    /// Runs `body` with a view of the scalars, which it may write.
    public mutating func withView<R>(_ body: (TensorView) throws -> R) rethrows -> R {
        let shape = self.shape
        return try scalars.withUnsafeMutableBufferPointer { buffer in
            try body(TensorView(shape: shape, scalars: buffer.baseAddress ?? TensorView.empty))
        }
    }
}

extension TensorView {
    /// Where an empty tensor's view points; never read or written, so sharing it is safe.
    fileprivate nonisolated(unsafe) static let empty = UnsafeMutablePointer<Float>.allocate(capacity: 1)
}

/// Runs `body` with read-only views of `tensors`, each valid for the call.
func withViews<R>(of tensors: [Tensor], _ body: ([TensorView]) throws -> R) rethrows -> R {
    var views: [TensorView] = []
    views.reserveCapacity(tensors.count)
    func next(_ index: Int) throws -> R {
        guard index < tensors.count else { return try body(views) }
        return try tensors[index].scalars.withUnsafeBufferPointer { buffer in
            views.append(TensorView(shape: tensors[index].shape,
                                    scalars: buffer.baseAddress.map(UnsafeMutablePointer.init(mutating:)) ?? TensorView.empty))
            return try next(index + 1)
        }
    }
    return try next(0)
}
