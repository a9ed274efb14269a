import Foundation

/// Median and minimum wall time in milliseconds of `runs` calls, after warm-up calls for
/// `warmUp` seconds (one at least). On this virtual machine the seconds after another process
/// exits (and hands its memory back) run slow: with one warm-up call, whichever side of a row
/// ran second measured up to 1.5x slower. The Python references warm up the same way.
func measure(runs: Int, warmUp: Double = 2, clock: BenchClock = .wall, _ body: () throws -> Void) rethrows
    -> (median: Double, min: Double) {
    let warm = DispatchTime.now().uptimeNanoseconds + UInt64(warmUp * 1e9)
    repeat { try body() } while DispatchTime.now().uptimeNanoseconds < warm
    var times: [Double] = []
    for _ in 0..<max(runs, 1) {
        let start = clock.nanoseconds
        try body()
        times.append(Double(clock.nanoseconds - start) / 1e6)
    }
    times.sort()
    return (times[times.count / 2], times[0])
}

/// Medians and minimums of several bodies timed in turn, run after run, so that a machine that
/// slows down for a while slows all of them alike.
func measureInTurn(runs: Int, warmUp: Double = 2, _ bodies: [() throws -> Void]) throws -> [(median: Double, min: Double)] {
    let warm = DispatchTime.now().uptimeNanoseconds + UInt64(warmUp * 1e9)
    repeat { for body in bodies { try body() } } while DispatchTime.now().uptimeNanoseconds < warm
    var times = [[Double]](repeating: [], count: bodies.count)
    for _ in 0..<max(runs, 1) {
        for (i, body) in bodies.enumerated() {
            let start = DispatchTime.now()
            try body()
            times[i].append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6)
        }
    }
    return times.map { t in
        let sorted = t.sorted()
        return (sorted[sorted.count / 2], sorted[0])
    }
}

extension String {
    /// Left-aligned in `width` columns (Foundation's `%-40@` does not pad on Linux).
    func padded(to width: Int) -> String {
        count >= width ? self : padding(toLength: width, withPad: " ", startingAt: 0)
    }
}

/// What `measure` times: wall time, or the calling thread's CPU time, which leaves out the time
/// the thread waits for a core that other processes hold (for one-thread comparisons on a busy
/// machine; what other processes do to the caches still counts).
enum BenchClock {
    case wall, threadCPU

    var nanoseconds: UInt64 {
        switch self {
        case .wall: return DispatchTime.now().uptimeNanoseconds
        case .threadCPU:
            var time = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
            return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
        }
    }
}
