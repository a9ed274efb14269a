#if os(Linux)
import CMalloc
#endif
import Foundation
import Synchronization

/// Gives the free memory malloc keeps back to the system, checked every few seconds: when the
/// resident memory malloc does not count as in use has grown by more than `slack` since the last
/// trim and malloc holds more than `slack` free. The process keeps freed blocks for reuse
/// (`AllocatorPolicy`: a saliency pass would otherwise page-fault its activations in afresh), but
/// blocks freed in the middle of an arena are never returned by trimming its top, so under varied
/// load the free part only grew. `malloc_trim(0)` returns every free page of every arena (they
/// stay free blocks to malloc, so its free figure does not drop; resident memory does); at most
/// one pass in `interval` faults its pages in again. Growth of resident memory alone is not the
/// signal: after a trim at a burst's peak, what the burst freed next was never given back, since
/// the process did not grow again.
final class HeapTrimmer: Sendable {
    /// The timer is in the lock too: Dispatch's sources are not `Sendable`.
    private let state: Mutex<State>

    private struct State {
        let timer: DispatchSourceTimer
        var started = false
        /// Resident bytes not in use by malloc just after the last trim (or at start): code,
        /// stacks, and free blocks still resident.
        var trimmedOverhead = 0
    }

    /// Free bytes kept untouched whatever is in use.
    static let slack = 16 << 20

    init(interval: Double = 5) {
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "heap trimmer", qos: .utility))
        timer.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(500))
        state = Mutex(State(timer: timer))
        state.withLock { $0.timer.setEventHandler { [weak self] in self?.check() } }
    }

    private func check() {
        let memory = ProcessMemory.current
        let trimmedOverhead = state.withLock { $0.trimmedOverhead }
        guard memory.residentOverhead > trimmedOverhead + Self.slack, memory.heapFreeBytes > Self.slack else { return }
        #if os(Linux)
        _ = malloc_trim(0)
        #endif
        let overhead = ProcessMemory.current.residentOverhead
        state.withLock { $0.trimmedOverhead = overhead }
    }

    func start() {
        state.withLock { state in
            guard !state.started else { return }
            state.started = true
            state.trimmedOverhead = ProcessMemory.current.residentOverhead
            state.timer.resume()
        }
    }

    deinit {
        // Dispatch traps when a suspended source is released.
        state.withLock { state in
            if !state.started { state.timer.resume() }
            state.timer.cancel()
        }
    }
}
