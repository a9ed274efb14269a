import CNN
import Foundation

/// A thread of its own for one executor: every computation on the executor runs there while
/// the caller waits.
///
/// glibc's malloc gives each thread an arena and returns a freed block to the arena it came
/// from. An executor's buffers (tens of MB once batches run) are reallocated as they grow, and
/// when each request's handler thread ran the executor in turn, every one of those threads'
/// arenas kept freed copies: SqueezeNet under 64 connections with batches of 8 held 830 MB.
/// On one thread per executor they stay in one arena.
final class ExecutorThread: @unchecked Sendable {
    let executor: Executor
    private let mailbox = Mailbox()

    init(executor: Executor, name: String) {
        self.executor = executor
        let thread = Thread { [mailbox] in mailbox.serve() }
        thread.name = name
        thread.start()
    }

    deinit { mailbox.stop() }

    /// Runs `body` on this thread and returns what it returns; one caller at a time.
    func run<T>(_ body: (Executor) throws -> T) throws -> T {
        var result: Result<T, Error>?
        withoutActuallyEscaping({ result = Result { try body(self.executor) } }) { mailbox.perform($0) }
        return try result!.get()
    }
}

/// The one piece of work waiting for an executor's thread, and whether the thread should end.
private final class Mailbox: @unchecked Sendable {
    private let condition = NSCondition()
    private var work: (() -> Void)?
    private var stopping = false
    private let finished = DispatchSemaphore(value: 0)

    /// Runs `work` on the serving thread and returns once that thread has let go of it.
    func perform(_ work: @escaping () -> Void) {
        condition.withLock {
            self.work = work
            condition.signal()
        }
        finished.wait()
    }

    func stop() {
        condition.withLock {
            stopping = true
            condition.signal()
        }
    }

    func serve() {
        while runNext() { finished.signal() }
    }

    /// Runs the next work and drops it; false once stopped.
    private func runNext() -> Bool {
        guard let next = condition.withLock({ () -> (() -> Void)? in
            while work == nil && !stopping { condition.wait() }
            defer { work = nil }
            return work
        }) else { return false }
        next()
        return true
    }
}
