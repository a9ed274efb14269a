#if os(Linux)
import CMalloc
#endif
import Foundation

/// The process's memory as the kernel and glibc's malloc see it: resident pages from
/// /proc/self/statm, and malloc's bytes in use and free-but-kept (`mallinfo2`) over every arena.
/// In use growing under steady load is a leak; free growing while in use holds still is the
/// allocator keeping memory it could return.
struct ProcessMemory {
    var residentBytes: Int
    var heapInUseBytes: Int
    var heapFreeBytes: Int

    /// Resident bytes malloc does not count as in use: code, stacks, and free blocks not yet
    /// returned (what `HeapTrimmer` watches).
    var residentOverhead: Int { residentBytes - heapInUseBytes }

    static var current: ProcessMemory {
        let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
        let pages = statm.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        let resident = pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        #if os(Linux)
        let info = mallinfo2()
        // Small blocks in arenas plus blocks mapped on their own.
        return ProcessMemory(residentBytes: resident, heapInUseBytes: Int(info.uordblks + info.hblkhd), heapFreeBytes: Int(info.fordblks))
        #else
        return ProcessMemory(residentBytes: resident, heapInUseBytes: 0, heapFreeBytes: 0)
        #endif
    }
}
