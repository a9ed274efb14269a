import HTTPTypes

/// An error that knows how it is answered: a status, header fields, and a code and message
/// for the body. The connection renders any error that conforms, in the error format of the
/// request's route family (`Router.setErrorFormat`); any other error a handler throws is
/// logged and answered 500 with an empty body, so internals never reach a client.
///
/// Domain errors adopt it where they meet HTTP (in the service, `ImagingError+HTTP.swift`
/// and the like), so the modules below the service know nothing of status codes.
public protocol HTTPResponseError: Error {
    var status: HTTPResponse.Status { get }
    /// Fields the answer carries besides Content-Type, such as `Allow` on a 405 or
    /// `Retry-After` on a 503. None by default.
    var headerFields: HTTPFields { get }
    /// A stable machine-readable name, such as `not_found`; by default the status's phrase.
    var code: String { get }
    /// What a person reads.
    var message: String { get }
}

extension HTTPResponseError {
    public var headerFields: HTTPFields { [:] }

    public var code: String { status.defaultErrorCode }

    /// The answer in `format`.
    public func response(format: HTTPErrorFormat = .codeAndMessage) -> HTTPServerResponse {
        var fields = headerFields
        let (contentType, body) = format.render(code, message)
        fields[.contentType] = contentType
        return HTTPServerResponse(status: status, headerFields: fields, body: body)
    }
}

extension HTTPResponse.Status {
    /// "Not Found" becomes "not_found".
    var defaultErrorCode: String {
        statusLinePhrase.lowercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
    }
}
