import HTTPTypes

/// What is decided on a request's head, before its body is read or `100 Continue` is sent.
extension ConnectionContext {
    /// The refusal of a request from its head: a host the server does not serve, another site's
    /// page, the route's own admission (a token, the body's type), or a full queue; nil to go on.
    func admissionRefusal(_ request: HTTPServerRequest, target: RequestTarget, match: Router.Match) -> HTTPError? {
        if let policy = configuration.hostPolicy, let authority = target.authority ?? request.head.authority,
           !policy.allows(authority) {
            return HTTPError(.misdirectedRequest, code: "host_not_allowed",
                             message: "This server does not answer for the host '\(authority)'; a name it should answer "
                                 + "for goes in allowed_hosts.")
        }
        if let refusal = configuration.crossSitePolicy?.refusal(for: request.head) { return refusal }
        guard case .found(let found) = match else { return nil }
        do {
            try found.admission?(request)
        } catch let error as HTTPResponseError {
            return HTTPError(error.status, code: error.code, message: error.message, headerFields: error.headerFields)
        } catch {
            logger.error("admission failed", metadata: ["path": "\(request.path)", "error": "\(error)"])
            return HTTPError(.internalServerError, code: "internal_error", message: "The server failed to admit the request.")
        }
        if executor(for: found.lane).isFull(queue: found.queue, limit: queueLimit(for: found.queue).maxQueued) {
            return queueFull(found.queue)
        }
        return nil
    }
}
