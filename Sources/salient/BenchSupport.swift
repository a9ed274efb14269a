import Foundation

/// Median and minimum wall time in milliseconds of `runs` calls, after one warm-up call.
func measure(runs: Int, _ body: () throws -> Void) rethrows -> (median: Double, min: Double) {
    try body()
    var times: [Double] = []
    for _ in 0..<max(runs, 1) {
        let start = DispatchTime.now()
        try body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6)
    }
    times.sort()
    return (times[times.count / 2], times[0])
}

extension String {
    /// Left-aligned in `width` columns (Foundation's `%-40@` does not pad on Linux).
    func padded(to width: Int) -> String {
        count >= width ? self : padding(toLength: width, withPad: " ", startingAt: 0)
    }
}
