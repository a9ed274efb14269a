import Foundation
import HTTPTypes

/// How many requests of one queue class may wait for a handler, and the setting that says so,
/// which the 503 names.
public struct QueueLimit: Sendable, Equatable {
    public var maxQueued: Int
    public var setting: String

    public init(maxQueued: Int, setting: String) {
        self.maxQueued = maxQueued
        self.setting = setting
    }
}

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

    /// This machine only by default; "0.0.0.0" or "::" listens on every interface.
    public var host: String = "127.0.0.1"
    /// 0 asks the kernel for a free port; `HTTPServer.port` reports it.
    public var port: Int = 8080
    public var backlog: Int32 = 512
    public var maxRequestLineBytes = 8 * 1024
    public var maxHeaderBytes = 16 * 1024
    public var maxHeaderFields = 100
    /// The default body limit; a route may override it.
    public var maxBodyBytes = 64 * 1024 * 1024
    /// The setting named in the 413 for a body beyond `maxBodyBytes`.
    public var maxBodyBytesSetting = "maxBodyBytes"
    /// Seconds a client has to send a complete request head (slowloris defence).
    public var headerReadTimeout: Double = 10
    /// Seconds a keep-alive connection may sit idle between requests, and the
    /// longest pause allowed while a body is being received or a response is being sent.
    public var idleTimeout: Double = 60
    public var maxConnections = 1024
    /// The setting named in the 503 for a connection beyond `maxConnections`.
    public var maxConnectionsSetting = "maxConnections"
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
    /// The host names requests may address (DNS rebinding defence); nil answers any `Host`.
    public var hostPolicy: HostPolicy?
    /// Refuses other sites' pages (cross-site request forgery); nil turns the check off.
    public var crossSitePolicy: CrossSitePolicy?
    /// How many requests of each queue class (`Router.add(queue:)`) may wait for a handler;
    /// beyond it they are answered 503 with `Retry-After`, before their body is read when the
    /// queue is already full as the head arrives.
    public var queueLimits: [String: QueueLimit] = [:]
    /// The limit of classes `queueLimits` does not name: as many as `maxConnections`, since a
    /// connection has at most one request waiting.
    public var defaultQueueLimit = QueueLimit(maxQueued: 1024, setting: "defaultQueueLimit")
    /// Bytes of request bodies held in memory at once, across every connection: received,
    /// waiting for a handler, or being handled. A request whose body would go beyond it is
    /// answered 503 with `Retry-After`, before its body is read when its length is declared.
    public var maxBufferedBodyBytes = 512 * 1024 * 1024
    /// The setting named in the refusal when `maxBufferedBodyBytes` is reached.
    public var maxBufferedBodyBytesSetting = "maxBufferedBodyBytes"
    /// Seconds a 503 for a full queue or body budget asks the client to wait (`Retry-After`).
    public var retryAfterSeconds = 1
    /// Fields every response carries unless its handler set them (security headers).
    public var defaultResponseFields = HTTPFields()

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
