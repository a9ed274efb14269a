import CNN
import Foundation

/// A fixed number of executors over one graph, run on the service's shared `ComputeThreads`.
/// Callers borrow one for a computation; when all are busy they wait. The callers are the
/// server's handlers, so at most `handlerConcurrency` wait here; overload is refused before them,
/// in the handler queue (`max_queued_requests`), where a refusal is counted and costs no handler.
final class ExecutorPool: @unchecked Sendable {
    private let lock = NSCondition()
    private var idle: [Executor]
    private let threads: ComputeThreads
    private(set) var waiting = 0
    /// Executors in the pool: computations of this model that run at once.
    let size: Int

    init(graph: Graph, size: Int, threads: ComputeThreads) {
        self.size = max(size, 1)
        idle = (0..<self.size).map { _ in Executor(graph: graph) }
        self.threads = threads
    }

    func withExecutor<T>(_ body: (Executor) throws -> T) throws -> T {
        lock.lock()
        waiting += 1
        while idle.isEmpty { lock.wait() }
        waiting -= 1
        let executor = idle.removeLast()
        lock.unlock()
        defer {
            lock.lock()
            idle.append(executor)
            lock.signal()
            lock.unlock()
        }
        return try threads.run { try body(executor) }
    }

    var queueDepth: Int {
        lock.lock()
        defer { lock.unlock() }
        return waiting
    }
}
