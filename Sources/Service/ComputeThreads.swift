import Foundation

/// The threads every model's computations run on: `inference_threads` of them for the whole
/// service, so a loaded model costs its executors (whose buffers exist once it is used), not
/// threads of its own. Twenty uploads had taken the process from 14 to 54 threads.
///
/// glibc's malloc gives each thread an arena and returns a freed block to the arena it came
/// from. An executor's buffers (tens of MB once batches run) are reallocated as they grow, and
/// when each request's handler thread ran the executor in turn, every one of those threads'
/// arenas kept freed copies: SqueezeNet under 64 connections with batches of 8 held 830 MB. On
/// these few threads they stay in few arenas.
final class ComputeThreads: @unchecked Sendable {
    private let condition = NSCondition()
    private var idle: [ComputeThread]
    let count: Int

    init(count: Int) {
        self.count = max(count, 1)
        idle = (0..<self.count).map { ComputeThread(name: "compute \($0)") }
    }

    /// Runs `body` on one of the threads, waiting for one to be free; returns what it returns.
    func run<T>(_ body: () throws -> T) throws -> T {
        let thread = condition.withLock {
            while idle.isEmpty { condition.wait() }
            return idle.removeLast()
        }
        defer {
            condition.withLock {
                idle.append(thread)
                condition.signal()
            }
        }
        return try thread.run(body)
    }
}

/// A thread of its own that runs one caller's work at a time while the caller waits.
private final class ComputeThread: Sendable {
    private let mailbox = Mailbox()

    init(name: String) {
        let thread = Thread { [mailbox] in mailbox.serve() }
        thread.name = name
        thread.start()
    }

    deinit { mailbox.stop() }

    func run<T>(_ body: () throws -> T) throws -> T {
        var result: Result<T, Error>?
        withoutActuallyEscaping({ result = Result { try body() } }) { mailbox.perform($0) }
        return try result!.get()
    }
}

/// The one piece of work waiting for a thread, and whether the thread should end.
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
