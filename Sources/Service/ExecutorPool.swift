import CNN
import Foundation

/// A fixed number of executors over one graph, each on a thread of its own. Callers borrow one
/// for a computation; when all are busy they wait. The callers are the server's handlers, so at
/// most `handlerConcurrency` wait here; overload is refused before them, in the handler queue
/// (`max_queued_requests`), where a refusal is counted and costs no handler.
final class ExecutorPool: @unchecked Sendable {
    private let lock = NSCondition()
    private var idle: [ExecutorThread]
    private(set) var waiting = 0
    /// Executors in the pool: computations that run at once.
    let size: Int

    init(graph: Graph, size: Int) {
        self.size = max(size, 1)
        idle = (0..<self.size).map { ExecutorThread(executor: Executor(graph: graph), name: "executor \($0) of \(graph.name)") }
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
        return try executor.run(body)
    }

    var queueDepth: Int {
        lock.lock()
        defer { lock.unlock() }
        return waiting
    }
}
