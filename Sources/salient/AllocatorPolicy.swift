#if os(Linux)
import CMalloc
#endif
import Foundation

/// How glibc's malloc keeps and returns memory, set once before any thread starts.
///
/// A saliency or training pass allocates every activation and gradient afresh (EfficientNet-B0's
/// integrated gradients at 8 steps a pass: ~650 MB). Memory the kernel gives back to malloc is
/// page-faulted and zeroed on first touch, and by default glibc hands it back to the kernel
/// after each pass, so each pass paid that again: 39% of EfficientNet-B0's integrated gradients
/// was kernel time (`perf`, 1.2 million page faults for 4 passes). So freed memory stays with
/// malloc, and `HeapTrimmer` gives it back when the service has been holding it for a while:
/// - no trimming of the heap's top on free (`M_TRIM_THRESHOLD` at its largest);
/// - no separate mappings for large blocks (`M_MMAP_MAX` 0): a block above the mmap threshold
///   (at most 32 MB in glibc; a [8, 96, 112, 112] activation is 38 MB) would be unmapped on free
///   whatever the trim threshold;
/// - one arena: each extra arena is a set of heaps of at most 64 MB that glibc unmaps as soon as
///   one is wholly free, and any block above that size is mapped on its own, so a pass on a
///   handler thread faulted its memory in afresh. Small allocations do not contend for the one
///   lock (each thread's tcache serves them); the arenas per thread also kept each handler's
///   freed blocks apart (issue 20's soak).
enum AllocatorPolicy {
    static func retainFreedMemory() {
        #if os(Linux)
        _ = mallopt(M_TRIM_THRESHOLD, Int32.max)
        _ = mallopt(M_MMAP_MAX, 0)
        _ = mallopt(M_ARENA_MAX, 1)
        #endif
    }
}
