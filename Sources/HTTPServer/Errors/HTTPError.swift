import HTTPTypes

/// An error with whatever status, code and message the thrower chooses: for the server's own
/// refusals and for handlers that have no domain error of their own to throw.
public struct HTTPError: HTTPResponseError, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var headerFields: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String? = nil, message: String? = nil, headerFields: HTTPFields = [:]) {
        self.status = status
        self.code = code ?? status.defaultErrorCode
        self.message = message ?? status.statusLinePhrase
        self.headerFields = headerFields
    }

    public var description: String { "\(status.code) \(code): \(message)" }
}

extension HTTPError {
    init(_ parseError: HTTPParseError) {
        self.init(HTTPResponse.Status.standard(code: parseError.statusCode), code: parseError.code, message: parseError.message)
    }
}
