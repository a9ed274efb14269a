#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation
import Logging

/// An HTTP/1.1 server on POSIX sockets and Dispatch.
///
///     let router = Router()
///     router.get("/hello/:name") { request in .text("hello \(try request.parameter("name"))") }
///     let server = HTTPServer(configuration: .init(host: "127.0.0.1", port: 8080), router: router)
///     try server.run()   // until SIGTERM or SIGINT
public final class HTTPServer: @unchecked Sendable {
    private enum State {
        case idle
        /// Without a listener when started with `listening: false`.
        case running(Listener?)
        case stopping
        case stopped
    }

    public let configuration: HTTPServerConfiguration
    private let router: Router
    private let logger: Logger
    private let observer: HTTPServerObserver?
    private let lock = NSLock()
    private var state = State.idle
    private var connections: [Int: Connection] = [:]
    private var nextConnectionID = 0
    private var acceptingPaused = false
    private var allClosed: DispatchSemaphore?
    private var context: ConnectionContext?
    private var tlsContext: TLSContext?

    public init(configuration: HTTPServerConfiguration, router: Router,
                logger: Logger = Logger(label: "http"), observer: HTTPServerObserver? = nil) {
        self.configuration = configuration
        self.router = router
        self.logger = logger
        self.observer = observer
    }

    /// The bound port, which is the kernel's choice when the configuration asks for 0.
    public var port: Int? {
        lock.lock()
        defer { lock.unlock() }
        if case .running(let listener) = state { return listener?.port }
        return nil
    }

    /// Requests waiting for a handler, by queue class (`Router.add(queue:)`).
    public var queuedRequests: [String: Int] {
        lock.withLock { context?.queuedRequests ?? [:] }
    }

    /// Bytes of request bodies held in memory now (`HTTPServerConfiguration.maxBufferedBodyBytes`).
    public var bufferedBodyBytes: Int {
        lock.withLock { context?.bodyBudget.inUse ?? 0 }
    }

    public var connectionCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return connections.count
    }

    /// Binds and starts accepting; returns at once. With `listening` false nothing is bound,
    /// and connections come only through `serve(connectedSocket:)`.
    public func start(listening: Bool = true) throws {
        lock.lock()
        defer { lock.unlock() }
        guard case .idle = state else { return }
        // A peer that vanishes mid-write must cost an EPIPE, not the process.
        signal(SIGPIPE, SIG_IGN)
        Self.raiseDescriptorLimit(toAtLeast: rlim_t(configuration.maxConnections + 256))
        if let tls = configuration.tls {
            tlsContext = try TLSContext(certificatePath: tls.certificatePath, privateKeyPath: tls.privateKeyPath)
        }
        context = ConnectionContext(configuration: configuration, router: router, logger: logger, observer: observer,
                                    isSecure: tlsContext != nil)
        guard listening else {
            state = .running(nil)
            return
        }
        let listener = try Listener(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        state = .running(listener)
        listener.start { [weak self] fd, peer in
            guard let self else { return _ = Glibc.close(fd) }
            accepted(fd, peer: peer, listener: listener)
        }
        logger.info("listening", metadata: ["host": "\(configuration.host)", "port": "\(listener.port)",
                                           "tls": "\(tlsContext != nil)"])
    }

    /// The usual soft limit of 1,024 descriptors is below what `maxConnections`
    /// needs; the soft limit may be raised up to the hard limit without privileges.
    private static func raiseDescriptorLimit(toAtLeast wanted: rlim_t) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < wanted else { return }
        limit.rlim_cur = min(wanted, limit.rlim_max)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    /// Serves a socket connected by other means: one end of a `socketpair` (tests, as swift-nio's
    /// EmbeddedChannel), or a descriptor inherited from a supervisor. The server owns it from here.
    public func serve(connectedSocket fd: Int32, peer: String = "local") {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let listener: Listener? = lock.withLock {
            if case .running(let listener) = state { return listener }
            return nil
        }
        accepted(fd, peer: peer, listener: listener)
    }

    private func accepted(_ fd: Int32, peer: String, listener: Listener?) {
        lock.lock()
        guard case .running = state, let context else {
            lock.unlock()
            _ = Glibc.close(fd)
            return
        }
        if connections.count >= configuration.maxConnections {
            if configuration.overloadPolicy == .stopAccepting && !acceptingPaused {
                acceptingPaused = true
                listener?.pauseAccepting()
            }
            lock.unlock()
            reject(fd)
            return
        }
        let transport: Transport
        if let tlsContext {
            guard let tls = TLSTransport(fd: fd, context: tlsContext) else {
                lock.unlock()
                _ = Glibc.close(fd)
                return
            }
            transport = tls
        } else {
            transport = PlainTransport(fd: fd)
        }
        nextConnectionID += 1
        let connection = Connection(id: nextConnectionID, transport: transport, remoteAddress: peer, context: context) {
            [weak self] connection in self?.connectionClosed(connection)
        }
        connections[connection.id] = connection
        if configuration.overloadPolicy == .stopAccepting && connections.count >= configuration.maxConnections {
            acceptingPaused = true
            listener?.pauseAccepting()
        }
        lock.unlock()
        observer?.connectionOpened()
        connection.start()
    }

    /// Answers a connection over the limit with 503 and closes it. The socket is
    /// fresh, so the short response fits its send buffer; over TLS there is no
    /// handshake yet to carry it, so the connection is just closed.
    private func reject(_ fd: Int32) {
        if tlsContext == nil {
            let message = "The server is at its limit of \(configuration.maxConnections) connections (\(configuration.maxConnectionsSetting))."
            let body = HTTPErrorFormat.codeAndMessage.render("too_many_connections", message).body
            let response = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
            var bytes = Array(response.utf8)
            bytes.append(contentsOf: body)
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            _ = Glibc.shutdown(fd, Int32(SHUT_WR))
        }
        _ = Glibc.close(fd)
        logger.warning("connection refused: limit reached", metadata: ["limit": "\(configuration.maxConnections)"])
    }

    private func connectionClosed(_ connection: Connection) {
        // Before the bookkeeping, so that shutdown() returns only after observers heard of every close.
        observer?.connectionClosed()
        lock.lock()
        connections[connection.id] = nil
        if acceptingPaused, connections.count < configuration.maxConnections, case .running(let listener) = state {
            acceptingPaused = false
            listener?.resumeAccepting()
        }
        if connections.isEmpty { allClosed?.signal() }
        lock.unlock()
    }

    /// Stops accepting, lets in-flight requests finish for up to `grace` seconds,
    /// then closes whatever is left. Blocks until every connection is closed.
    public func shutdown(grace: Double) {
        lock.lock()
        guard case .running(let listener) = state else {
            lock.unlock()
            return
        }
        state = .stopping
        let semaphore = DispatchSemaphore(value: 0)
        allClosed = semaphore
        let open = Array(connections.values)
        lock.unlock()

        listener?.stop()
        logger.info("shutting down", metadata: ["connections": "\(open.count)", "grace": "\(grace)"])
        if !open.isEmpty {
            open.forEach { $0.drain() }
            if semaphore.wait(timeout: .now() + grace) == .timedOut {
                lock.lock()
                let remaining = Array(connections.values)
                lock.unlock()
                logger.warning("grace period over; closing connections", metadata: ["connections": "\(remaining.count)"])
                remaining.forEach { $0.forceClose() }
                _ = semaphore.wait(timeout: .now() + 5)
            }
        }
        lock.lock()
        state = .stopped
        allClosed = nil
        lock.unlock()
    }

    /// Starts the server if needed and blocks until SIGTERM or SIGINT, then shuts
    /// down gracefully within `configuration.shutdownGrace`.
    public func run() throws {
        try start()
        let signalled = DispatchSemaphore(value: 0)
        let sources = [SIGTERM, SIGINT].map { number -> DispatchSourceSignal in
            // Dispatch sees the signal only if its default action no longer ends the process.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { signalled.signal() }
            source.resume()
            return source
        }
        signalled.wait()
        logger.info("signal received")
        shutdown(grace: configuration.shutdownGrace)
        for (number, source) in zip([SIGTERM, SIGINT], sources) {
            source.cancel()
            signal(number, SIG_DFL)
        }
    }
}
