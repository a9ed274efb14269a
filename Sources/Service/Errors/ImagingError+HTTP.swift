import HTTPServer
import HTTPTypes
import Imaging

/// An image a client sent that cannot be read is the client's problem (4xx), by kind.
extension ImagingError: HTTPResponseError {
    public var status: HTTPResponse.Status {
        switch kind {
        case .unsupportedFormat: return .unsupportedMediaType
        case .tooLarge: return .unprocessableContent
        case .corrupt, .invalidArgument: return .badRequest
        }
    }

    public var code: String {
        switch kind {
        case .unsupportedFormat: return "unsupported_media_type"
        case .tooLarge: return "image_too_large"
        case .corrupt: return "corrupt_image"
        case .invalidArgument: return "bad_parameter"
        }
    }
}
