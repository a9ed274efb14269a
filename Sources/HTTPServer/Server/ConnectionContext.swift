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
        self.ioQueues = (0..<max(1, ProcessInfo.processInfo.activeProcessorCount)).map {
            DispatchQueue(label: "http.io.\($0)", qos: .userInitiated)
        }
        self.responseWriter = ResponseWriter(compressionEnabled: configuration.compressionEnabled,
                                             compressionMinimumBytes: configuration.compressionMinimumBytes)
    }

    func executor(for lane: Router.Lane) -> BoundedExecutor {
        lane == .quick ? quickExecutor : standardExecutor
    }
}
