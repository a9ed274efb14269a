import Foundation
import HTTPTypes

/// An error a handler throws to answer with a given status and the project's
/// JSON error body, `{"error":{"code":"...","message":"..."}}`.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    /// Extra fields for the error response, such as `Allow` on a 405.
    public var headerFields: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String? = nil, message: String? = nil, headerFields: HTTPFields = [:]) {
        self.status = status
        self.code = code ?? Self.defaultCode(for: status)
        self.message = message ?? status.statusLinePhrase
        self.headerFields = headerFields
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    /// The response that reports this error.
    public var response: HTTPServerResponse {
        var fields = headerFields
        fields[.contentType] = "application/json"
        return HTTPServerResponse(status: status, headerFields: fields, body: Self.body(code: code, message: message))
    }

    static func body(code: String, message: String) -> Data {
        struct Envelope: Encodable {
            struct Detail: Encodable {
                let code: String
                let message: String
            }
            let error: Detail
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(Envelope(error: .init(code: code, message: message)))) ?? Data()
    }

    /// "Not Found" becomes "not_found".
    static func defaultCode(for status: HTTPResponse.Status) -> String {
        let phrase = status.statusLinePhrase
        return phrase.lowercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
    }
}

extension HTTPError {
    init(_ parseError: HTTPParseError) {
        self.init(HTTPResponse.Status.standard(code: parseError.statusCode), code: parseError.code, message: parseError.message)
    }
}
