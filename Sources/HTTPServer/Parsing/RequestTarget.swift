import HTTPTypes

/// A request target split into what routing needs (RFC 9112 section 3.2): the path, still
/// percent-encoded, the query, and, for an absolute-form target, its authority, which takes the
/// place of `Host`.
public struct RequestTarget: Equatable, Sendable {
    /// "/" for an absolute-form target without a path, "*" for the asterisk form.
    public var path: String
    /// The query without its '?', or nil when there is none.
    public var query: String?
    public var authority: String?

    /// Nil for a target that is none of origin-form (`/a?b`), absolute-form
    /// (`http://host/a?b`, http and https only) and asterisk-form (`*`, OPTIONS only).
    public init?(_ target: String, method: HTTPRequest.Method) {
        if target == "*" {
            guard method == .options else { return nil }
            path = "*"
            return
        }
        var pathAndQuery = Substring(target)
        if !target.hasPrefix("/") {
            let lowered = target.lowercased()
            guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://"),
                  let schemeEnd = target.range(of: "://")?.upperBound else { return nil }
            let afterScheme = target[schemeEnd...]
            let end = afterScheme.firstIndex { $0 == "/" || $0 == "?" } ?? afterScheme.endIndex
            authority = String(afterScheme[..<end])
            pathAndQuery = afterScheme[end...]
            if !pathAndQuery.hasPrefix("/") { pathAndQuery = "/" + pathAndQuery }
        }
        guard let mark = pathAndQuery.firstIndex(of: "?") else {
            path = String(pathAndQuery)
            return
        }
        path = String(pathAndQuery[..<mark])
        query = String(pathAndQuery[pathAndQuery.index(after: mark)...])
    }
}
