import Foundation

/// One Server-Sent Event (the WHATWG `text/event-stream` format).
public struct ServerSentEvent: Sendable, Equatable {
    public var event: String?
    public var data: String
    public var id: String?
    public var retry: Int?

    public init(event: String? = nil, data: String, id: String? = nil, retry: Int? = nil) {
        self.event = event
        self.data = data
        self.id = id
        self.retry = retry
    }

    /// The wire form; multi-line data becomes several `data:` lines.
    public var encoded: String {
        var text = ""
        if let id { text += "id: \(Self.singleLine(id))\n" }
        if let event { text += "event: \(Self.singleLine(event))\n" }
        if let retry { text += "retry: \(retry)\n" }
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) {
            text += "data: \(line)\n"
        }
        return text + "\n"
    }

    private static func singleLine(_ text: String) -> String {
        text.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ")
    }
}

/// Writes a streamed response body. Safe to use from any thread; once the client
/// disconnects or the server shuts down, writes return false and the close
/// handlers run, so a producer can stop its work.
public final class ResponseBodyWriter: @unchecked Sendable {
    private let lock = NSLock()
    private var isOpen = true
    private var closeHandlers: [@Sendable () -> Void] = []
    private let sink: @Sendable (Data) -> Void
    private let finisher: @Sendable () -> Void

    init(sink: @escaping @Sendable (Data) -> Void, finisher: @escaping @Sendable () -> Void) {
        self.sink = sink
        self.finisher = finisher
    }

    /// False once the stream has ended for any reason.
    public var isClosed: Bool {
        lock.lock()
        defer { lock.unlock() }
        return !isOpen
    }

    /// Queues `data` for the client; false if the stream has already ended.
    @discardableResult
    public func write(_ data: Data) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard isOpen else { return false }
        if !data.isEmpty { sink(data) }
        return true
    }

    @discardableResult
    public func write(_ text: String) -> Bool {
        write(Data(text.utf8))
    }

    @discardableResult
    public func send(_ event: ServerSentEvent) -> Bool {
        write(event.encoded)
    }

    /// Ends the body normally.
    public func finish() {
        guard let handlers = end() else { return }
        finisher()
        handlers.forEach { $0() }
    }

    /// Registers `handler` to run once when the stream ends, at once if it already has.
    public func onClose(_ handler: @escaping @Sendable () -> Void) {
        lock.lock()
        if isOpen {
            closeHandlers.append(handler)
            lock.unlock()
        } else {
            lock.unlock()
            handler()
        }
    }

    /// Called by the connection when the client went away or the server closed it.
    func connectionClosed() {
        end()?.forEach { $0() }
    }

    private func end() -> [@Sendable () -> Void]? {
        lock.lock()
        defer { lock.unlock() }
        guard isOpen else { return nil }
        isOpen = false
        let handlers = closeHandlers
        closeHandlers = []
        return handlers
    }
}
