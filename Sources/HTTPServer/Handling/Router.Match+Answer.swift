import HTTPTypes

extension Router.Match {
    /// The server's own answer to a request no handler matched: 405 with `Allow` (204 with
    /// `Allow` to OPTIONS), 204 with `Allow` to `OPTIONS *`, 400 for a malformed percent escape,
    /// 404 otherwise; nil when a handler matched. Errors are written in `format`.
    public func answer(method: HTTPRequest.Method, path: String,
                       format: HTTPErrorFormat = .codeAndMessage) -> HTTPServerResponse? {
        switch self {
        case .found:
            return nil
        case .methodNotAllowed(let allowed):
            let allow = allowed.map(\.rawValue).joined(separator: ", ")
            if method == .options {
                return HTTPServerResponse(status: .noContent, headerFields: [.allow: allow])
            }
            return HTTPError(.methodNotAllowed, code: "method_not_allowed",
                             message: "\(method.rawValue) is not allowed here; use \(allow).",
                             headerFields: [.allow: allow]).response(format: format)
        case .notFound where path == "*":
            return HTTPServerResponse(status: .noContent, headerFields: [.allow: "GET, HEAD, POST, PUT, DELETE, OPTIONS"])
        case .invalidPath:
            return HTTPError(.badRequest, code: "invalid_path", message: "The path has a malformed percent escape.")
                .response(format: format)
        case .notFound:
            return HTTPError(.notFound, code: "not_found", message: "No resource at \(path).").response(format: format)
        }
    }

    /// The queue class a request counts against; requests without a route have none of their own.
    var queue: String {
        if case .found(let found) = self { return found.queue }
        return Router.defaultQueue
    }
}
