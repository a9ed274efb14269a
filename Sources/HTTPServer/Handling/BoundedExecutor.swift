import Dispatch
import Foundation

/// Runs at most `width` jobs at a time; the rest wait in FIFO order without holding a
/// thread, so a burst of requests cannot make Dispatch spawn a thread per blocked handler.
///
/// Each running job has a serial queue of its own, one of `width`. Serial queues overcommit:
/// Dispatch gives each busy one a thread. Concurrent queues, the global ones included, do not:
/// Dispatch keeps about one thread per core on them, so handlers that block (on an inference
/// slot, a batch, a lock) would keep the other jobs, and the `.quick` pool's, from starting
/// while the cores sit idle.
final class BoundedExecutor: @unchecked Sendable {
    private let lock = NSLock()
    /// A FIFO: taken jobs are cleared at once, since a job holds its request (body included)
    /// and under sustained load the array may never drain to be emptied.
    private var waiting: [(@Sendable () -> Void)?] = []
    private var waitingHead = 0
    private var idleLanes: [DispatchQueue]

    init(width: Int) {
        precondition(width > 0, "An executor needs at least one slot")
        idleLanes = (0..<width).map { DispatchQueue(label: "http.handler.\($0)", qos: .userInitiated) }
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        lock.lock()
        guard let lane = idleLanes.popLast() else {
            waiting.append(job)
            lock.unlock()
            return
        }
        lock.unlock()
        start(job, on: lane)
    }

    private func start(_ job: @escaping @Sendable () -> Void, on lane: DispatchQueue) {
        lane.async { [self] in
            job()
            jobFinished(on: lane)
        }
    }

    private func jobFinished(on lane: DispatchQueue) {
        lock.lock()
        guard waitingHead < waiting.count else {
            idleLanes.append(lane)
            lock.unlock()
            return
        }
        let next = waiting[waitingHead]!
        waiting[waitingHead] = nil
        waitingHead += 1
        if waitingHead == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            waitingHead = 0
        } else if waitingHead >= 1024, waitingHead * 2 >= waiting.count {
            waiting.removeFirst(waitingHead)
            waitingHead = 0
        }
        lock.unlock()
        start(next, on: lane)
    }
}
