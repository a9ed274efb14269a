import HTTPServer
import HTTPTypes

/// What the service itself refuses: a parameter, a missing resource, a conflict, a model it
/// cannot use. The engine's and codecs' own errors answer through their `+HTTP` extensions.
struct ServiceError: HTTPResponseError, CustomStringConvertible {
    let status: HTTPResponse.Status
    let code: String
    let message: String

    static func badParameter(_ message: String) -> ServiceError {
        ServiceError(status: .badRequest, code: "bad_parameter", message: message)
    }

    static func notFound(_ message: String) -> ServiceError {
        ServiceError(status: .notFound, code: "not_found", message: message)
    }

    static func conflict(_ message: String) -> ServiceError {
        ServiceError(status: .conflict, code: "conflict", message: message)
    }

    static func invalidModel(_ message: String) -> ServiceError {
        ServiceError(status: .unprocessableContent, code: "invalid_model", message: message)
    }

    static func unsupportedMediaType(_ message: String) -> ServiceError {
        ServiceError(status: .unsupportedMediaType, code: "unsupported_media_type", message: message)
    }

    var description: String { "\(status.code) \(code): \(message)" }
}
