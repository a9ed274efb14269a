#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation
import Logging
import Synchronization

/// An HTTP/1.1 server on POSIX sockets and Dispatch.
///
///     let router = Router()
///     router.get("/hello/:name") { request in .text("hello \(try request.parameter("name"))") }
///     let server = HTTPServer(configuration: .init(host: "127.0.0.1", port: 8080), router: router)
///     try server.run()   // until SIGTERM or SIGINT
public final class HTTPServer: Sendable {
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

    /// What starting, accepting, closing and shutting down change, under one lock.
    private struct Shared {
        var state = State.idle
        var connections: [Int: Connection] = [:]
        var nextConnectionID = 0
        var acceptingPaused = false
        var allClosed: DispatchSemaphore?
        var context: ConnectionContext?
        var tlsContext: TLSContext?
    }

    private let shared = Mutex(Shared())

    public init(configuration: HTTPServerConfiguration, router: Router,
                logger: Logger = Logger(label: "http"), observer: HTTPServerObserver? = nil) {
        self.configuration = configuration
        self.router = router
        self.logger = logger
        self.observer = observer
    }

    /// The bound port, which is the kernel's choice when the configuration asks for 0.
    public var port: Int? {
        shared.withLock { shared in
            if case .running(let listener) = shared.state { return listener?.port }
            return nil
        }
    }

    /// Requests waiting for a handler, by queue class (`Router.add(queue:)`).
    public var queuedRequests: [String: Int] {
        shared.withLock { $0.context?.queuedRequests ?? [:] }
    }

    /// Bytes of request bodies held in memory now (`HTTPServerConfiguration.maxBufferedBodyBytes`).
    public var bufferedBodyBytes: Int {
        shared.withLock { $0.context?.bodyBudget.inUse ?? 0 }
    }

    public var connectionCount: Int {
        shared.withLock { $0.connections.count }
    }

    /// Binds and starts accepting; returns at once. With `listening` false nothing is bound,
    /// and connections come only through `serve(connectedSocket:)`.
    public func start(listening: Bool = true) throws {
        try shared.withLock { shared in
            guard case .idle = shared.state else { return }
            // A peer that vanishes mid-write must cost an EPIPE, not the process.
            signal(SIGPIPE, SIG_IGN)
            Self.raiseDescriptorLimit(toAtLeast: rlim_t(configuration.maxConnections + 256))
            if let tls = configuration.tls {
                shared.tlsContext = try TLSContext(certificatePath: tls.certificatePath, privateKeyPath: tls.privateKeyPath)
            }
            shared.context = ConnectionContext(configuration: configuration, router: router, logger: logger, observer: observer,
                                               isSecure: shared.tlsContext != nil)
            guard listening else {
                shared.state = .running(nil)
                return
            }
            let listener = try Listener(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
            shared.state = .running(listener)
            listener.start { [weak self] fd, peer in
                guard let self else { return _ = Glibc.close(fd) }
                accepted(fd, peer: peer, listener: listener)
            }
            logger.info("listening", metadata: ["host": "\(configuration.host)", "port": "\(listener.port)",
                                               "tls": "\(shared.tlsContext != nil)"])
        }
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
        let listener: Listener? = shared.withLock { shared in
            if case .running(let listener) = shared.state { return listener }
            return nil
        }
        accepted(fd, peer: peer, listener: listener)
    }

    private func accepted(_ fd: Int32, peer: String, listener: Listener?) {
        enum Admission { case start(Connection), reject(overTLS: Bool), close }
        let admission: Admission = shared.withLock { shared in
            guard case .running = shared.state, let context = shared.context else { return .close }
            if shared.connections.count >= configuration.maxConnections {
                if configuration.overloadPolicy == .stopAccepting && !shared.acceptingPaused {
                    shared.acceptingPaused = true
                    listener?.pauseAccepting()
                }
                return .reject(overTLS: shared.tlsContext != nil)
            }
            let transport: Transport
            if let tlsContext = shared.tlsContext {
                guard let tls = TLSTransport(fd: fd, context: tlsContext) else { return .close }
                transport = tls
            } else {
                transport = PlainTransport(fd: fd)
            }
            shared.nextConnectionID += 1
            let connection = Connection(id: shared.nextConnectionID, transport: transport, remoteAddress: peer, context: context) {
                [weak self] connection in self?.connectionClosed(connection)
            }
            shared.connections[connection.id] = connection
            if configuration.overloadPolicy == .stopAccepting && shared.connections.count >= configuration.maxConnections {
                shared.acceptingPaused = true
                listener?.pauseAccepting()
            }
            return .start(connection)
        }
        switch admission {
        case .start(let connection):
            observer?.connectionOpened()
            connection.start()
        case .reject(let overTLS):
            reject(fd, overTLS: overTLS)
        case .close:
            _ = Glibc.close(fd)
        }
    }

    /// Answers a connection over the limit with 503 and closes it. The socket is
    /// fresh, so the short response fits its send buffer; over TLS there is no
    /// handshake yet to carry it, so the connection is just closed.
    private func reject(_ fd: Int32, overTLS: Bool) {
        if !overTLS {
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
        shared.withLock { shared in
            shared.connections[connection.id] = nil
            if shared.acceptingPaused, shared.connections.count < configuration.maxConnections,
               case .running(let listener) = shared.state {
                shared.acceptingPaused = false
                listener?.resumeAccepting()
            }
            if shared.connections.isEmpty { shared.allClosed?.signal() }
        }
    }

    /// Stops accepting, lets in-flight requests finish for up to `grace` seconds,
    /// then closes whatever is left. Blocks until every connection is closed.
    public func shutdown(grace: Double) {
        let stopping: (Listener?, [Connection], DispatchSemaphore)? = shared.withLock { shared in
            guard case .running(let listener) = shared.state else { return nil }
            shared.state = .stopping
            let semaphore = DispatchSemaphore(value: 0)
            shared.allClosed = semaphore
            return (listener, Array(shared.connections.values), semaphore)
        }
        guard case let (listener, open, semaphore)? = stopping else { return }

        listener?.stop()
        logger.info("shutting down", metadata: ["connections": "\(open.count)", "grace": "\(grace)"])
        if !open.isEmpty {
            open.forEach { $0.drain() }
            if semaphore.wait(timeout: .now() + grace) == .timedOut {
                let remaining = shared.withLock { Array($0.connections.values) }
                logger.warning("grace period over; closing connections", metadata: ["connections": "\(remaining.count)"])
                remaining.forEach { $0.forceClose() }
                _ = semaphore.wait(timeout: .now() + 5)
            }
        }
        shared.withLock { shared in
            shared.state = .stopped
            shared.allClosed = nil
        }
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
