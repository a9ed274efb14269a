import CNN
import HTTPServer
import HTTPTypes

/// An upload whose folding or import time passes its budget: 422 `limit_exceeded`, the message
/// naming the setting.
extension ONNXBudgetError: HTTPResponseError {
    public var status: HTTPResponse.Status { .unprocessableContent }
    public var code: String { "limit_exceeded" }
    public var message: String { description }
}
