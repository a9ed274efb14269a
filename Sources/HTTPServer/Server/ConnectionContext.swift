import Foundation
import HTTPTypes
import Logging

/// What every connection of one server shares.
final class ConnectionContext: Sendable {
    let configuration: HTTPServerConfiguration
    let router: Router
    private let standardExecutor: BoundedExecutor
    private let quickExecutor: BoundedExecutor
    let logger: Logger
    let observer: HTTPServerObserver?
    let date = HTTPDate()
    let responseWriter: ResponseWriter
    let isSecure: Bool
    let bodyBudget: BodyBudget
    /// Connection queues target one of these serial queues, one per core, so
    /// socket work runs on a few threads instead of one per busy connection.
    let ioQueues: [DispatchQueue]

    init(configuration: HTTPServerConfiguration, router: Router, logger: Logger, observer: HTTPServerObserver?, isSecure: Bool) {
        self.configuration = configuration
        self.router = router
        self.standardExecutor = BoundedExecutor(width: configuration.handlerConcurrency)
        self.quickExecutor = BoundedExecutor(width: configuration.quickHandlerConcurrency)
        self.logger = logger
        self.observer = observer
        self.isSecure = isSecure
        self.bodyBudget = BodyBudget(limit: configuration.maxBufferedBodyBytes)
        self.ioQueues = (0..<max(1, ProcessInfo.processInfo.activeProcessorCount)).map {
            DispatchQueue(label: "http.io.\($0)", qos: .userInitiated)
        }
        self.responseWriter = ResponseWriter(compressionEnabled: configuration.compressionEnabled,
                                             compressionMinimumBytes: configuration.compressionMinimumBytes,
                                             defaultFields: configuration.defaultResponseFields)
    }

    func executor(for lane: Router.Lane) -> BoundedExecutor {
        lane == .quick ? quickExecutor : standardExecutor
    }

    func queueLimit(for queue: String) -> QueueLimit {
        configuration.queueLimits[queue] ?? configuration.defaultQueueLimit
    }

    /// Requests waiting for a handler, by queue class.
    var queuedRequests: [String: Int] {
        standardExecutor.depths.merging(quickExecutor.depths, uniquingKeysWith: +)
    }

    /// The 503 for a request its queue class has no room for.
    func queueFull(_ queue: String) -> HTTPError {
        let limit = queueLimit(for: queue)
        observer?.requestShed(queue: queue, reason: "queue_full")
        return HTTPError(.serviceUnavailable, code: "queue_full",
                         message: "\(limit.maxQueued) \(queue) requests are already waiting (\(limit.setting)); "
                             + "retry in \(configuration.retryAfterSeconds) s.",
                         headerFields: [.retryAfter: "\(configuration.retryAfterSeconds)"])
    }

    /// The 503 for a request whose body does not fit in what the server may hold.
    func bodyBudgetFull(_ queue: String) -> HTTPError {
        observer?.requestShed(queue: queue, reason: "body_budget")
        return HTTPError(.serviceUnavailable, code: "body_budget_full",
                         message: "The server already holds \(bodyBudget.inUse) bytes of request bodies, near its limit of "
                             + "\(bodyBudget.limit) (\(configuration.maxBufferedBodyBytesSetting)); retry in "
                             + "\(configuration.retryAfterSeconds) s.",
                         headerFields: [.retryAfter: "\(configuration.retryAfterSeconds)"])
    }
}
