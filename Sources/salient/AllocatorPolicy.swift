#if os(Linux)
import CMalloc
#endif
import Foundation

/// How glibc's malloc keeps and returns memory, set once before any thread starts.
///
/// - Freed memory is kept for reuse up to `retainedBytes`: by default glibc unmaps or trims freed
///   blocks of a few megabytes, so each saliency or training pass (which allocates every
///   activation and gradient afresh, ~200 MB for ResNet-50) page-faulted all of it in again, a
///   third of the pass on this machine. Only blocks above the largest mmap threshold (huge weight
///   tensors) go straight back to the kernel. `HeapTrimmer` gives back what piles up.
/// - Arenas are as many as cores, not glibc's eight per core. Each thread that allocates gets an
///   arena and a freed block goes back to the arena it came from, so the handler threads of a busy
///   server each kept their own free memory: under issue 20's soak (classification at 64
///   connections, SmoothGrad at 8) resident memory went 139 → 240 MB over ten rounds with 15-25 MB
///   in use; with two arenas, 100 → 116 MB (`salient bench --soak`).
enum AllocatorPolicy {
    static let mmapThreshold: Int32 = 32 << 20
    static let retainedBytes: Int32 = 256 << 20

    static func retainFreedMemory() {
        #if os(Linux)
        _ = mallopt(M_TRIM_THRESHOLD, retainedBytes)
        _ = mallopt(M_MMAP_THRESHOLD, mmapThreshold)
        _ = mallopt(M_ARENA_MAX, Int32(max(2, ProcessInfo.processInfo.activeProcessorCount)))
        #endif
    }
}
