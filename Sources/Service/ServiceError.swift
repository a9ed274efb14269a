import CNN
import HTTPServer
import HTTPTypes
import Imaging

/// Maps what the engine and the codecs throw to the API's status codes and error codes.
enum ServiceError {
    static func badParameter(_ message: String) -> HTTPError {
        HTTPError(.badRequest, code: "bad_parameter", message: message)
    }

    static func notFound(_ message: String) -> HTTPError {
        HTTPError(.notFound, code: "not_found", message: message)
    }

    static func conflict(_ message: String) -> HTTPError {
        HTTPError(.conflict, code: "conflict", message: message)
    }

    static func http(_ error: Error) -> Error {
        switch error {
        case let error as ImagingError:
            switch error.kind {
            case .unsupportedFormat: return HTTPError(.unsupportedMediaType, code: "unsupported_media_type", message: error.message)
            case .tooLarge: return HTTPError(.unprocessableContent, code: "image_too_large", message: error.message)
            case .corrupt: return HTTPError(.badRequest, code: "corrupt_image", message: error.message)
            case .invalidArgument: return HTTPError(.badRequest, code: "bad_parameter", message: error.message)
            }
        case let error as GraphError:
            return HTTPError(.unprocessableContent, code: "invalid_model", message: error.description)
        case let error as ArchitectureError:
            return HTTPError(.unprocessableContent, code: "invalid_model", message: error.description)
        case let error as ONNXError:
            return HTTPError(.unprocessableContent, code: "invalid_model", message: error.description)
        case let error as Safetensors.FormatError:
            return HTTPError(.unprocessableContent, code: "invalid_model", message: error.description)
        default:
            return error
        }
    }
}
