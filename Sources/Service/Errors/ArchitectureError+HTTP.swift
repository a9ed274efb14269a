import CNN
import HTTPServer
import HTTPTypes

/// A model the engine cannot build or run is one the client sent or named: 422 `invalid_model`.
extension ArchitectureError: HTTPResponseError {
    public var status: HTTPResponse.Status { .unprocessableContent }
    public var code: String { "invalid_model" }
    public var message: String { description }
}
