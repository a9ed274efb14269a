import Dispatch
import HTTPTypes
import Foundation
import Synchronization

/// A request handler written with Swift concurrency.
public typealias AsyncHTTPHandler = @Sendable (HTTPServerRequest) async throws -> HTTPServerResponse

extension Router {
    /// Adds a route with an async handler. It holds a slot of the handler pool
    /// until it returns, so the pool bounds async and blocking handlers alike.
    public func add(_ method: HTTPRequest.Method, _ pattern: String, bodyLimit: Int? = nil, bodyLimitSetting: String? = nil,
                    lane: Lane = .standard, queue: String = Router.defaultQueue, admission: HTTPAdmission? = nil,
                    async handler: @escaping AsyncHTTPHandler) {
        add(method, pattern, bodyLimit: bodyLimit, bodyLimitSetting: bodyLimitSetting, lane: lane, queue: queue, admission: admission,
            Self.blocking(handler))
    }

    /// Runs `handler` as a task and waits for it on the calling pool thread.
    static func blocking(_ handler: @escaping AsyncHTTPHandler) -> HTTPHandler {
        { request in
            let outcome = TaskOutcome()
            Task {
                do {
                    outcome.finish(.success(try await handler(request)))
                } catch {
                    outcome.finish(.failure(error))
                }
            }
            return try outcome.wait().get()
        }
    }
}

/// Hands a task's result to the thread waiting for it.
private final class TaskOutcome: Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let result = Mutex<Result<HTTPServerResponse, Error>?>(nil)

    func finish(_ result: Result<HTTPServerResponse, Error>) {
        self.result.withLock { $0 = result }
        done.signal()
    }

    func wait() -> Result<HTTPServerResponse, Error> {
        done.wait()
        return result.withLock { $0! }
    }
}
