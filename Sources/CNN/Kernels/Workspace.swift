/// Scratch memory that grows to the largest request and is then reused, so that im2col and
/// similar temporaries allocate nothing in steady state.
public final class Workspace {
    private var storage: [Float] = []
    private var secondary: [Float] = []

    public init() {}

    /// Floats held, across both buffers.
    public var capacity: Int { storage.count + secondary.count }

    /// A scratch buffer of at least `count` floats; its contents are undefined.
    func withBuffer<R>(count: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        if storage.count < count { storage = [Float](repeating: 0, count: count) }
        return storage.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    }

    /// Two independent scratch buffers at once.
    func withBuffers<R>(_ first: Int, _ second: Int,
                        _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> R) -> R {
        if secondary.count < second { secondary = [Float](repeating: 0, count: second) }
        return secondary.withUnsafeMutableBufferPointer { b in
            withBuffer(count: first) { a in body(a, b.baseAddress!) }
        }
    }
}
