import HTTPServer
import HTTPTypes

/// A full inference queue is the server's state, not the client's mistake: 503, try again soon.
extension InferenceOverload: HTTPResponseError {
    var status: HTTPResponse.Status { .serviceUnavailable }
    var code: String { "overloaded" }
    var headerFields: HTTPFields { [.retryAfter: "1"] }
}
