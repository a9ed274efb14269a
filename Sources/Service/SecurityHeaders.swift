import HTTPTypes

/// Fields on every response of the service, the web UI's and the API's alike.
enum SecurityHeaders {
    /// The web UI in public/ loads its own scripts, styles and images only, previews the chosen
    /// file from a blob: URL, uses a data: URL as its empty favicon, and talks to this origin
    /// alone (fetch and EventSource); nothing inline. No other site may frame any of it.
    static let contentSecurityPolicy = [
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' blob: data:",
        "connect-src 'self'", "font-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'",
        "frame-ancestors 'none'",
    ].joined(separator: "; ")

    static var fields: HTTPFields {
        var fields = HTTPFields()
        fields[.contentSecurityPolicy] = contentSecurityPolicy
        // A JSON error or an uploaded-looking body is never run as a script or page.
        fields[.xContentTypeOptions] = "nosniff"
        // frame-ancestors for browsers without CSP level 2.
        fields[HTTPField.Name("X-Frame-Options")!] = "DENY"
        // Paths name models and maps; they stay here.
        fields[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return fields
    }
}
