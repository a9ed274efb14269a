import HTTPServer
import HTTPTypes

/// A dataset archive refused, by kind.
extension ArchiveError: HTTPResponseError {
    public var status: HTTPResponse.Status {
        switch kind {
        case .unsupported: return .unsupportedMediaType
        case .corrupt: return .unprocessableContent
        case .unsafePath: return .badRequest
        case .tooLarge: return .contentTooLarge
        }
    }

    public var code: String {
        switch kind {
        case .unsupported: return "unsupported_media_type"
        case .corrupt: return "invalid_dataset"
        case .unsafePath: return "unsafe_archive"
        case .tooLarge: return "too_large"
        }
    }
}
