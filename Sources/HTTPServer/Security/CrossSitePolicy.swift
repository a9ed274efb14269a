import HTTPTypes

/// Keeps other sites' pages from using the server through a visitor's browser (cross-site
/// request forgery), from the request head alone:
///
/// - A request that a browser marks `Sec-Fetch-Site: cross-site` is refused unless it is a
///   top-level navigation (a link followed to a page or a map): fetches, forms, images and
///   scripts of another site get 403 (the Fetch Metadata resource isolation policy).
/// - A request that can change state or start work (any method but GET, HEAD and OPTIONS) with
///   an `Origin` must come from the server's own origin, the one its `Host` names, or from an
///   allowed origin. Every browser sends `Origin` on such requests, `null` from sandboxed or
///   privacy-restricted contexts, which is refused too.
///
/// Clients that are not browsers send neither field and are not concerned.
public struct CrossSitePolicy: Sendable, Equatable {
    /// Origins whose pages may send any request, such as a reverse proxy's public origin when the
    /// proxy rewrites `Host` (`https://salient.example.com`); `*` turns the policy off.
    public var allowedOrigins: [String]

    public init(allowedOrigins: [String] = []) {
        self.allowedOrigins = allowedOrigins.map { Self.normalized($0) }
    }

    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!
    static let secFetchMode = HTTPField.Name("Sec-Fetch-Mode")!
    static let secFetchDest = HTTPField.Name("Sec-Fetch-Dest")!

    /// Nil when the request may go on, else the refusal.
    public func refusal(for head: HTTPRequest) -> HTTPError? {
        if allowedOrigins.contains("*") { return nil }
        let fields = head.headerFields
        let origin = fields[.origin].map(Self.normalized)
        if let origin, allowedOrigins.contains(origin) { return nil }
        let safe = head.method == .get || head.method == .head || head.method == .options
        if fields[Self.secFetchSite]?.lowercased() == "cross-site" {
            let navigation = fields[Self.secFetchMode]?.lowercased() == "navigate"
                && !["object", "embed"].contains(fields[Self.secFetchDest]?.lowercased() ?? "")
            if !(navigation && safe) {
                return HTTPError(.forbidden, code: "cross_site_request",
                                 message: "Requests from another site's pages are refused (Sec-Fetch-Site: cross-site); "
                                     + "an origin that should be allowed goes in allowed_origins.")
            }
        }
        guard !safe, let origin else { return nil }
        if let authority = head.authority, Self.sameOrigin(origin, authority: authority) { return nil }
        return HTTPError(.forbidden, code: "origin_not_allowed",
                         message: "Origin \(origin) may not send \(head.method.rawValue) requests here: only pages of "
                             + "this server's own origin may, and those listed in allowed_origins.")
    }

    /// Whether an origin (`scheme://host[:port]`) names the authority a request was sent to.
    /// The scheme is left out of the comparison: behind a TLS-terminating proxy the browser's is
    /// https while the server speaks plain HTTP.
    static func sameOrigin(_ origin: String, authority: String) -> Bool {
        guard let separator = origin.range(of: "://") else { return false }
        let scheme = origin[..<separator.lowerBound]
        let defaultPort = scheme == "https" ? ":443" : scheme == "http" ? ":80" : nil
        func bare(_ text: Substring) -> Substring {
            if let defaultPort, text.hasSuffix(defaultPort) { return text.dropLast(defaultPort.count) }
            return text
        }
        return bare(origin[separator.upperBound...]) == bare(Substring(authority.lowercased()))
    }

    /// Lowercased, without a trailing slash: origins are compared as text.
    static func normalized(_ origin: String) -> String {
        let lowered = origin.lowercased()
        return lowered.hasSuffix("/") ? String(lowered.dropLast()) : lowered
    }
}
