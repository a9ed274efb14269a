import Foundation
import HTTPTypes

/// The media types a route takes as its body, checked from the head so that a refused body is
/// never read.
///
/// Browsers let any page send three types to any server without asking it first (a CORS
/// "simple request"): `application/x-www-form-urlencoded`, `multipart/form-data` and
/// `text/plain`, or no type at all. A route that takes only other types (`application/json`,
/// `image/png`) cannot be reached cross-site by a page's form or fetch: the browser would first
/// ask with a preflight, which this server never grants. Routes that take multipart forms rely on
/// `CrossSitePolicy` instead.
public struct AcceptedBodyTypes: Sendable, Equatable {
    /// Media types without parameters, lowercased; `image/*` matches any image type.
    public var types: [String]
    /// Whether a client that is not a browser (no `Origin`, no `Sec-Fetch-Site`) may send the
    /// body untyped or as `application/x-www-form-urlencoded`, as `curl --data-binary` and
    /// Python's http.client do unless told otherwise. For routes whose body announces its own
    /// format (image files start with their signature); a browser's request is held to `types`.
    public var untypedFromNonBrowsers: Bool

    public init(_ types: [String], untypedFromNonBrowsers: Bool = false) {
        self.types = types.map { $0.lowercased() }
        self.untypedFromNonBrowsers = untypedFromNonBrowsers
    }

    public static let json = AcceptedBodyTypes(["application/json"])
    /// For routes that take no body: any body is refused.
    public static let none = AcceptedBodyTypes([])

    static let formURLEncoded = "application/x-www-form-urlencoded"

    /// Nil when the head announces no body or a body of an accepted type, else the 415 that
    /// names what is accepted.
    public func refusal(for head: HTTPRequest) -> HTTPError? {
        let fields = head.headerFields
        guard fields[.transferEncoding] != nil || (fields[.contentLength].flatMap { Int($0) } ?? 0) > 0 else { return nil }
        guard !types.isEmpty else {
            return HTTPError(.unsupportedMediaType, code: "unsupported_media_type", message: "This route takes no body.")
        }
        let declared = fields[.contentType].map(Self.essence)
        if let declared, types.contains(where: { Self.matches(declared, $0) }) { return nil }
        let fromBrowser = fields[.origin] != nil || fields[CrossSitePolicy.secFetchSite] != nil
        if untypedFromNonBrowsers && !fromBrowser && (declared == nil || declared == Self.formURLEncoded) { return nil }
        var message = declared.map { "This route does not take \($0) bodies" } ?? "The body has no Content-Type"
        message += "; send one of: \(types.joined(separator: ", "))."
        if declared == nil || declared == Self.formURLEncoded {
            message += fromBrowser
                ? " Any web page may send that to any server, so a browser's must name its type."
                : " With curl: -H 'Content-Type: \(types.first ?? "")'."
        }
        return HTTPError(.unsupportedMediaType, code: "unsupported_media_type", message: message)
    }

    /// `Image/PNG; charset=x` becomes `image/png`.
    static func essence(_ contentType: String) -> String {
        let type = contentType.split(separator: ";", maxSplits: 1).first ?? ""
        return type.trimmingCharacters(in: .whitespaces).lowercased()
    }

    static func matches(_ declared: String, _ accepted: String) -> Bool {
        guard accepted.hasSuffix("/*") else { return declared == accepted }
        return declared.hasPrefix(accepted.dropLast())
    }
}
