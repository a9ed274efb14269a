import Foundation

/// Limits and socket options of a server; every default follows the project's documented limits.
public struct HTTPServerConfiguration: Sendable {
    /// What the server does with a connection beyond `maxConnections`.
    public enum OverloadPolicy: Sendable {
        /// Accept it, answer 503 with a JSON error, and close it.
        case rejectWith503
        /// Leave it in the kernel's backlog until a connection closes.
        case stopAccepting
    }

    /// Certificate chain and private key files (PEM) that switch the listener to TLS.
    public struct TLS: Sendable {
        public var certificatePath: String
        public var privateKeyPath: String

        public init(certificatePath: String, privateKeyPath: String) {
            self.certificatePath = certificatePath
            self.privateKeyPath = privateKeyPath
        }
    }

    public var host: String = "0.0.0.0"
    /// 0 asks the kernel for a free port; `HTTPServer.port` reports it.
    public var port: Int = 8080
    public var backlog: Int32 = 512
    public var maxRequestLineBytes = 8 * 1024
    public var maxHeaderBytes = 16 * 1024
    public var maxHeaderFields = 100
    /// The default body limit; a route may override it.
    public var maxBodyBytes = 64 * 1024 * 1024
    /// Seconds a client has to send a complete request head (slowloris defence).
    public var headerReadTimeout: Double = 10
    /// Seconds a keep-alive connection may sit idle between requests, and the
    /// longest pause allowed while a body is being received or a response is being sent.
    public var idleTimeout: Double = 60
    public var maxConnections = 1024
    public var overloadPolicy = OverloadPolicy.rejectWith503
    /// How many handlers run at once; CPU-bound handlers want about one per core.
    public var handlerConcurrency = max(2, ProcessInfo.processInfo.activeProcessorCount)
    /// How many handlers of `.quick` routes run at once, apart from the others.
    public var quickHandlerConcurrency = 2
    /// Pipelined requests parsed ahead of the one being answered, per connection.
    public var maxPipelinedRequests = 16
    /// Bytes a streamed response may queue for a slow client before the
    /// producer's next write waits for the client to catch up.
    public var streamHighWatermarkBytes = 1024 * 1024
    /// Responses smaller than this are never compressed.
    public var compressionMinimumBytes = 1024
    public var compressionEnabled = true
    /// Seconds `run()` lets in-flight requests finish after SIGTERM or SIGINT.
    public var shutdownGrace: Double = 10
    public var tls: TLS?

    public init() {}

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    var parserLimits: HTTPRequestParser.Limits {
        HTTPRequestParser.Limits(maxRequestLineBytes: maxRequestLineBytes, maxHeaderBytes: maxHeaderBytes,
                                 maxHeaderFields: maxHeaderFields, maxBodyBytes: maxBodyBytes)
    }
}
