import COpenBLAS
import Dispatch
import Foundation

/// The engine's thread count, and the one pool its work runs on.
///
/// GEMM and every other kernel split their work through `parallelFor` onto Dispatch's shared
/// worker pool; OpenBLAS itself is kept single-threaded. Two pools (OpenBLAS's spinning threads
/// beside ours) oversubscribed the cores, which made two threads slower than one.
public enum EngineThreads {
    nonisolated(unsafe) private static var current = ProcessInfo.processInfo.activeProcessorCount
    private static let blasSingleThreaded: Void = openblas_set_num_threads(1)

    public static func set(_ count: Int) {
        blasSingleThreaded
        current = max(1, count)
    }

    public static var count: Int { current }

    /// Makes sure OpenBLAS runs on the calling thread before any GEMM.
    @inline(__always)
    static func prepareBLAS() { blasSingleThreaded }
}

/// Work below this many (rough) floating-point operations stays on the calling thread: waking a
/// worker costs about as much.
private let minimumWorkPerThread = 1 << 17

/// Calls `body` with disjoint ranges that cover 0..<count, on up to `EngineThreads.count`
/// threads. `cost` is the work of one item, in operations, so that small loops run inline.
func parallelFor(_ count: Int, cost: Int, _ body: (Range<Int>) -> Void) {
    parallelChunks(count, cost: cost) { _, range in body(range) }
}

/// `parallelFor` that also names each range's chunk, 0..<EngineThreads.count, so that threads
/// can each use their own part of a scratch buffer.
func parallelChunks(_ count: Int, cost: Int, _ body: (_ chunk: Int, _ range: Range<Int>) -> Void) {
    let threads = Swift.min(EngineThreads.count, count, Swift.max(1, count * cost / minimumWorkPerThread))
    guard threads > 1 else {
        if count > 0 { body(0, 0..<count) }
        return
    }
    DispatchQueue.concurrentPerform(iterations: threads) { t in
        body(t, count * t / threads ..< count * (t + 1) / threads)
    }
}
