import CNN
import HTTPServer
import HTTPTypes

/// Weights that do not parse make the model unusable: 422 `invalid_model`.
extension Safetensors.FormatError: HTTPResponseError {
    public var status: HTTPResponse.Status { .unprocessableContent }
    public var code: String { "invalid_model" }
    public var message: String { description }
}
