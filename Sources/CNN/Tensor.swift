/// A dense Float32 array with an explicit row-major shape; image tensors are NCHW.
///
/// Storage is a Swift array, so copies are copy-on-write: kernels write through
/// `withUnsafeMutableBufferPointer` into buffers the executor planned, and no copy happens
/// unless a buffer is genuinely shared.
public struct Tensor: Equatable, Sendable {
    public private(set) var shape: [Int]
    public var scalars: [Float]

    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.reduce(1, *) == scalars.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor whose scalars `body` writes, every one of them: nothing is zero-filled first.
    init(shape: [Int], writingEvery body: (UnsafeMutableBufferPointer<Float>) -> Void) {
        self.init(unfilledShape: shape)
        scalars.withUnsafeMutableBufferPointer { body($0) }
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, repeating: 0)
    }

    /// A tensor whose scalars are left as the allocator gives them, for an operator's output:
    /// every forward writes all of its output (planned inference reuses buffers unzeroed), so
    /// clearing it first only costs a pass over memory.
    init(unfilledShape shape: [Int]) {
        self.shape = shape
        let count = shape.reduce(1, *)
        self.scalars = [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }

    public init(shape: [Int], repeating value: Float) {
        self.shape = shape
        self.scalars = [Float](repeating: value, count: shape.reduce(1, *))
    }

    public var count: Int { scalars.count }
    public var rank: Int { shape.count }

    /// The same scalars under another shape of equal size; one dimension may be -1.
    public func reshaped(to newShape: [Int]) -> Tensor {
        Tensor(shape: Tensor.resolve(newShape, count: count), scalars: scalars)
    }

    static func resolve(_ shape: [Int], count: Int) -> [Int] {
        guard let unknown = shape.firstIndex(of: -1) else { return shape }
        var resolved = shape
        let known = shape.enumerated().filter { $0.offset != unknown }.reduce(1) { $0 * $1.element }
        resolved[unknown] = known == 0 ? 0 : count / known
        return resolved
    }

    public subscript(index: Int...) -> Float {
        get { scalars[offset(index)] }
        set { scalars[offset(index)] = newValue }
    }

    func offset(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index rank \(index.count) for shape \(shape)")
        var flat = 0
        for (i, dim) in zip(index, shape) { flat = flat * dim + i }
        return flat
    }

    /// Row-major strides of the shape.
    public var strides: [Int] { Tensor.strides(of: shape) }

    static func strides(of shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }

    public func map(_ transform: (Float) -> Float) -> Tensor {
        Tensor(shape: shape, scalars: scalars.map(transform))
    }

    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
        precondition(lhs.shape == rhs.shape)
        var out = lhs
        out.add(rhs)
        return out
    }

    public mutating func add(_ other: Tensor, scaledBy alpha: Float = 1) {
        precondition(count == other.count, "add of \(shape) and \(other.shape)")
        scalars.withUnsafeMutableBufferPointer { a in
            other.scalars.withUnsafeBufferPointer { b in
                for i in 0..<a.count { a[i] += alpha * b[i] }
            }
        }
    }

    public func sum() -> Float { scalars.reduce(0, +) }

    /// The transpose of a matrix [rows, columns].
    public var transposedMatrix: Tensor {
        precondition(rank == 2, "transpose of a tensor of shape \(shape)")
        let (rows, columns) = (shape[0], shape[1])
        return Tensor(shape: [columns, rows], writingEvery: { t in
            for i in 0..<rows { for j in 0..<columns { t[j * rows + i] = scalars[i * columns + j] } }
        })
    }

    /// Indices of the largest value along the last axis, one per row.
    public func argmaxRows() -> [Int] {
        let width = shape.last ?? 1
        return stride(from: 0, to: count, by: width).map { start in
            var best = start
            for i in start..<start + width where scalars[i] > scalars[best] { best = i }
            return best - start
        }
    }
}
