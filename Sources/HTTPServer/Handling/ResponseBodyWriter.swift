import Foundation

/// Writes a streamed response body. Safe to use from any thread; once the client
/// disconnects or the server shuts down, writes return false and the close
/// handlers run, so a producer can stop its work.
///
/// A write waits while more than `highWatermark` bytes are queued for a client
/// that reads slowly, so a producer can never outrun the socket by more than that.
public final class ResponseBodyWriter: @unchecked Sendable {
    private let condition = NSCondition()
    private var isOpen = true
    private var queuedBytes = 0
    private var closeHandlers: [@Sendable () -> Void] = []
    private let highWatermark: Int
    private let sink: @Sendable (Data) -> Void
    private let finisher: @Sendable () -> Void

    init(highWatermark: Int, sink: @escaping @Sendable (Data) -> Void, finisher: @escaping @Sendable () -> Void) {
        self.highWatermark = highWatermark
        self.sink = sink
        self.finisher = finisher
    }

    /// False once the stream has ended for any reason.
    public var isClosed: Bool {
        condition.lock()
        defer { condition.unlock() }
        return !isOpen
    }

    /// Queues `data` for the client; false if the stream has ended. With
    /// `waitingForRoom`, it first waits while the client is behind: right for bulk
    /// producers, wrong for a thread with other work (such as a training loop
    /// reporting progress), which should pass false and rely on the server's idle
    /// timeout to drop a client that stopped reading.
    @discardableResult
    public func write(_ data: Data, waitingForRoom: Bool = true) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while waitingForRoom && isOpen && queuedBytes > highWatermark {
            condition.wait()
        }
        guard isOpen else { return false }
        if !data.isEmpty {
            queuedBytes += data.count
            // Called under the lock so that concurrent writers keep their order.
            sink(data)
        }
        return true
    }

    @discardableResult
    public func write(_ text: String, waitingForRoom: Bool = true) -> Bool {
        write(Data(text.utf8), waitingForRoom: waitingForRoom)
    }

    /// Sends one event without waiting: events are small and their producers
    /// usually have other work to do.
    @discardableResult
    public func send(_ event: ServerSentEvent) -> Bool {
        write(event.encoded, waitingForRoom: false)
    }

    /// Ends the body normally.
    public func finish() {
        guard let handlers = end() else { return }
        finisher()
        handlers.forEach { $0() }
    }

    /// Registers `handler` to run once when the stream ends, at once if it already has.
    public func onClose(_ handler: @escaping @Sendable () -> Void) {
        condition.lock()
        if isOpen {
            closeHandlers.append(handler)
            condition.unlock()
        } else {
            condition.unlock()
            handler()
        }
    }

    /// Called by the connection once `count` written bytes have reached the socket.
    func acknowledge(_ count: Int) {
        condition.lock()
        queuedBytes -= count
        condition.broadcast()
        condition.unlock()
    }

    /// Called by the connection when the client went away or the server closed it.
    func connectionClosed() {
        end()?.forEach { $0() }
    }

    private func end() -> [@Sendable () -> Void]? {
        condition.lock()
        defer { condition.unlock() }
        guard isOpen else { return nil }
        isOpen = false
        let handlers = closeHandlers
        closeHandlers = []
        condition.broadcast()
        return handlers
    }
}
