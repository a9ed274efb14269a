import Foundation
import Synchronization

/// How long a cache line takes to go from one core to another and back, measured by two
/// threads passing a counter. On this virtual machine it swings between about 70 ns and over
/// 700 ns from one minute to the next (the host moves the vCPUs), and two-thread timings swing
/// with it, so the benchmark prints it beside them.
enum CoreRoundTrip {
    /// The mean round trip, in nanoseconds, over `rounds` passes there and back.
    static func measure(rounds: Int = 100_000) -> Double {
        let baton = Baton()
        let other = Thread {
            for round in 0..<rounds {
                while baton.value.load(ordering: .acquiring) != 2 * round + 1 {}
                baton.value.store(2 * round + 2, ordering: .releasing)
            }
        }
        other.start()
        let start = DispatchTime.now().uptimeNanoseconds
        for round in 0..<rounds {
            baton.value.store(2 * round + 1, ordering: .releasing)
            while baton.value.load(ordering: .acquiring) != 2 * round + 2 {}
        }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / Double(rounds)
    }

    private final class Baton: Sendable {
        let value = Atomic<Int>(0)
    }
}
