import Foundation
import Synchronization

/// How long a cache line takes to go from one core to another and back, measured by two
/// threads passing a counter. On this virtual machine it swings between about 70 ns and over
/// 700 ns from one minute to the next (the host moves the vCPUs), and two-thread timings swing
/// with it, so the benchmark prints it beside them.
enum CoreRoundTrip {
    /// The mean round trip, in nanoseconds, over up to `rounds` passes there and back, stopping
    /// after a fifth of a second: where both threads share one core, each pass waits for a time
    /// slice, and the figure (milliseconds) says so.
    static func measure(rounds: Int = 100_000) -> Double {
        let baton = Baton()
        let other = Thread {
            var round = 0
            while true {
                let seen = baton.value.load(ordering: .acquiring)
                if seen == Baton.stop { return }
                if seen == 2 * round + 1 {
                    baton.value.store(2 * round + 2, ordering: .releasing)
                    round += 1
                }
            }
        }
        other.start()
        let start = DispatchTime.now().uptimeNanoseconds
        let deadline = start + 200_000_000
        var passes = 0
        while passes < rounds && (passes % 1024 != 0 || DispatchTime.now().uptimeNanoseconds < deadline) {
            baton.value.store(2 * passes + 1, ordering: .releasing)
            while baton.value.load(ordering: .acquiring) != 2 * passes + 2 {}
            passes += 1
        }
        let elapsed = DispatchTime.now().uptimeNanoseconds - start
        baton.value.store(Baton.stop, ordering: .releasing)
        return Double(elapsed) / Double(Swift.max(passes, 1))
    }

    private final class Baton: Sendable {
        static let stop = -1
        let value = Atomic<Int>(0)
    }
}
