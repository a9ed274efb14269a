/// How glibc's malloc gives memory back to the kernel. By default it unmaps or trims freed
/// blocks of a few megabytes, so each saliency or training pass (which allocates every
/// activation and gradient afresh, ~200 MB for ResNet-50) page-faults all of it in again:
/// a third of the pass on this machine. Keeping up to `retainedBytes` of freed memory for
/// reuse removes that; only blocks above the largest mmap threshold (huge weight tensors)
/// still go straight back to the kernel.
enum AllocatorPolicy {
    static let mmapThreshold: Int32 = 32 << 20
    static let retainedBytes: Int32 = 256 << 20

    static func retainFreedMemory() {
        #if os(Linux)
        // Values of M_TRIM_THRESHOLD and M_MMAP_THRESHOLD in <malloc.h>.
        _ = mallopt(-1, retainedBytes)
        _ = mallopt(-3, mmapThreshold)
        #endif
    }
}

#if os(Linux)
/// glibc's mallopt; <malloc.h> is not part of the Glibc module.
@_silgen_name("mallopt")
private func mallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
