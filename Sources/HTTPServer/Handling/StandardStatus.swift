import HTTPTypes

extension HTTPResponse.Status {
    private static let standard: [Int: HTTPResponse.Status] = {
        let statuses: [HTTPResponse.Status] = [
            .continue, .switchingProtocols, .ok, .created, .accepted, .noContent, .partialContent,
            .movedPermanently, .found, .seeOther, .notModified, .temporaryRedirect, .permanentRedirect,
            .badRequest, .unauthorized, .forbidden, .notFound, .methodNotAllowed, .notAcceptable, .requestTimeout,
            .conflict, .gone, .lengthRequired, .preconditionFailed, .contentTooLarge, .uriTooLong,
            .unsupportedMediaType, .rangeNotSatisfiable, .expectationFailed, .unprocessableContent,
            .tooManyRequests, .requestHeaderFieldsTooLarge, .internalServerError, .notImplemented,
            .badGateway, .serviceUnavailable, .gatewayTimeout, .httpVersionNotSupported,
        ]
        return Dictionary(statuses.map { ($0.code, $0) }, uniquingKeysWith: { first, _ in first })
    }()

    /// The status for `code` with its standard reason phrase when it has one.
    static func standard(code: Int) -> HTTPResponse.Status {
        standard[code] ?? HTTPResponse.Status(code: code)
    }

    /// The reason phrase to put on the status line, never empty.
    var statusLinePhrase: String {
        if !reasonPhrase.isEmpty { return reasonPhrase }
        return Self.standard[code]?.reasonPhrase ?? "Status \(code)"
    }
}
