import Foundation
import HTTPTypes
import Logging

/// What every connection of one server shares.
final class ConnectionContext: Sendable {
    let configuration: HTTPServerConfiguration
    let router: Router
    let executor: BoundedExecutor
    let logger: Logger
    let observer: HTTPServerObserver?
    let date = HTTPDate()
    let responseWriter: ResponseWriter
    let isSecure: Bool
    /// Connection queues target one of these serial queues, one per core, so
    /// socket work runs on a few threads instead of one per busy connection.
    let ioQueues: [DispatchQueue]

    init(configuration: HTTPServerConfiguration, router: Router, logger: Logger, observer: HTTPServerObserver?, isSecure: Bool) {
        self.configuration = configuration
        self.router = router
        self.executor = BoundedExecutor(width: configuration.handlerConcurrency)
        self.logger = logger
        self.observer = observer
        self.isSecure = isSecure
        self.ioQueues = (0..<max(1, ProcessInfo.processInfo.activeProcessorCount)).map {
            DispatchQueue(label: "http.io.\($0)", qos: .userInitiated)
        }
        self.responseWriter = ResponseWriter(compressionEnabled: configuration.compressionEnabled,
                                             compressionMinimumBytes: configuration.compressionMinimumBytes)
    }
}

/// One answered request, as the access log and metrics see it.
public struct HTTPAccessRecord: Sendable {
    public var method: String
    /// The request path, without the query.
    public var path: String
    /// The matched route pattern, a low-cardinality label for metrics; nil when no route matched.
    public var route: String?
    public var status: Int
    /// Body bytes sent, after compression.
    public var bodyBytes: Int
    public var duration: Double
    public var remoteAddress: String
}

/// Receives every answered request; the service implements it to keep metrics.
public protocol HTTPServerObserver: AnyObject, Sendable {
    func requestCompleted(_ record: HTTPAccessRecord)
    func connectionOpened()
    func connectionClosed()
}

extension HTTPServerObserver {
    public func connectionOpened() {}
    public func connectionClosed() {}
}
