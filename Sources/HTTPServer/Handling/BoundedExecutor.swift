import Dispatch
import Foundation

/// Runs at most `width` jobs at a time on Dispatch's global pool; the rest wait
/// in FIFO order without holding a thread, so a burst of requests cannot make
/// Dispatch spawn a thread per blocked handler.
final class BoundedExecutor: @unchecked Sendable {
    private let width: Int
    private let lock = NSLock()
    /// A FIFO: taken jobs are cleared at once, since a job holds its request (body included)
    /// and under sustained load the array may never drain to be emptied.
    private var waiting: [(@Sendable () -> Void)?] = []
    private var waitingHead = 0
    private var running = 0
    /// A queue of its own rather than a global one: those are not overcommitting, so Dispatch
    /// keeps about one thread per core on them and handlers that block (waiting for an
    /// inference slot or a batch) would leave the cores idle while jobs wait for a thread.
    /// `width` bounds the threads this queue takes.
    private let queue = DispatchQueue(label: "http.handlers", qos: .userInitiated, attributes: .concurrent)

    init(width: Int) {
        precondition(width > 0, "An executor needs at least one slot")
        self.width = width
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        lock.lock()
        guard running < width else {
            waiting.append(job)
            lock.unlock()
            return
        }
        running += 1
        lock.unlock()
        start(job)
    }

    private func start(_ job: @escaping @Sendable () -> Void) {
        queue.async { [self] in
            job()
            jobFinished()
        }
    }

    private func jobFinished() {
        lock.lock()
        guard waitingHead < waiting.count else {
            running -= 1
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
        start(next)
    }
}
