import HTTPServer
import HTTPTypes

/// A request that asks for more than a budget allows. The message ends with the setting (the
/// config/salient.json key) an operator would change.
struct BudgetError: HTTPResponseError, CustomStringConvertible {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    let headerFields: HTTPFields

    /// More than one request may ever have: by default 422 `limit_exceeded`.
    static func exceeded(_ message: String, setting: String, status: HTTPResponse.Status = .unprocessableContent,
                         code: String = "limit_exceeded") -> BudgetError {
        BudgetError(status: status, code: code, message: "\(message) (setting \(setting))", headerFields: [:])
    }

    /// A quota of stored things (models, datasets, bytes on disk) is used up: 409 until something
    /// is deleted.
    static func quota(_ message: String, setting: String) -> BudgetError {
        exceeded(message, setting: setting, status: .conflict, code: "quota_exceeded")
    }

    /// A budget every request shares is used up for now: 503 with Retry-After.
    static func busy(_ message: String, setting: String?, retryAfterSeconds: Int = 1) -> BudgetError {
        BudgetError(status: .serviceUnavailable, code: "overloaded", message: message + (setting.map { " (setting \($0))" } ?? ""),
                    headerFields: [.retryAfter: "\(retryAfterSeconds)"])
    }

    var description: String { "\(status.code) \(code): \(message)" }
}
