import COpenBLAS
import Foundation

/// The engine's thread count, and the one pool its work runs on.
///
/// GEMM and every other kernel split their work through `parallelFor` onto `EnginePool`;
/// OpenBLAS itself is kept single-threaded. Two pools (OpenBLAS's spinning threads beside ours)
/// oversubscribed the cores, which made two threads slower than one.
public enum EngineThreads {
    nonisolated(unsafe) private static var current = ProcessInfo.processInfo.activeProcessorCount
    /// OpenBLAS starts a thread per core when it loads, and they spin for a tenth of a second
    /// before they sleep: beside our workers, they took a core from every short run (a
    /// benchmark of SqueezeNet, a service's first requests). One thread, and no server; and
    /// kernels as wide as the CPU's vectors.
    private static let blasSingleThreaded: Void = {
        BLASKernels.chooseForThisCPU()
        openblas_set_num_threads(1)
        _ = blas_thread_shutdown_()
    }()

    public static func set(_ count: Int) {
        blasSingleThreaded
        current = max(1, count)
    }

    public static var count: Int { current }

    /// Makes sure OpenBLAS runs on the calling thread before any GEMM.
    @inline(__always)
    static func prepareBLAS() { blasSingleThreaded }
}

/// Work below this many (rough) floating-point operations stays on the calling thread: handing
/// it to a spinning worker (a cache line each way) costs about as much.
private let minimumWorkPerThread = 1 << 14

/// Calls `body` with disjoint ranges that cover 0..<count, on up to `EngineThreads.count`
/// threads. `cost` is the work of one item, in operations, so that small loops run inline.
func parallelFor(_ count: Int, cost: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    parallelChunks(count, cost: cost, minimumChunk: minimumChunk) { _, range in body(range) }
}

/// `parallelFor` that also names the thread running each range, 0..<threads, so that threads
/// can each use their own part of a scratch buffer sized for `threads`. The ranges are about a
/// quarter of a thread's share, at least `minimumChunk` long, so that a thread slowed down by
/// another process leaves its remaining ranges to the others. Their number is a multiple of the
/// threads': three ranges (a 14x14 plane's 196 columns in GEMM blocks of at least 64) kept one
/// of two threads busy twice as long as the other.
func parallelChunks(_ count: Int, cost: Int, threads limit: Int = EngineThreads.count, minimumChunk: Int = 1,
                    _ body: (_ slot: Int, _ range: Range<Int>) -> Void) {
    let threads = Swift.min(limit, count, Swift.max(1, count * cost / minimumWorkPerThread))
    guard threads > 1 else {
        if count > 0 { body(0, 0..<count) }
        return
    }
    let chunks = Swift.max(threads, Swift.min(4 * threads, count / Swift.max(1, minimumChunk)) / threads * threads)
    EnginePool.shared.run(chunks: chunks, threads: threads) { chunk, slot in
        body(slot, count * chunk / chunks ..< count * (chunk + 1) / chunks)
    }
}

/// Runs `body(band, scratch, splitsGEMM)` for bands 0..<count, each with `scratch` floats of the
/// workspace to itself. With at least as many bands as threads, threads take whole bands and
/// multiply on their own thread; with fewer (small planes, many channels), bands run in turn
/// and `splitsGEMM` asks the band's GEMMs to split across the threads instead.
func forEachBand(_ count: Int, scratch: Int, cost: Int, workspace: Workspace,
                 _ body: (_ band: Int, _ scratch: UnsafeMutablePointer<Float>, _ splitsGEMM: Bool) -> Void) {
    let threads = EngineThreads.count
    let inParallel = count >= threads
    workspace.withBuffer(count: scratch * (inParallel ? threads : 1)) { buffer in
        if inParallel {
            parallelChunks(count, cost: cost, threads: threads) { slot, range in
                for band in range { body(band, buffer + slot * scratch, false) }
            }
        } else {
            for band in 0..<count { body(band, buffer, true) }
        }
    }
}
