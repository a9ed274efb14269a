import HTTPTypes

/// A request handler. It runs on the server's bounded handler pool, never on a
/// socket queue, so it may block or compute for as long as it needs.
public typealias HTTPHandler = @Sendable (HTTPServerRequest) throws -> HTTPServerResponse

/// Decides from a request's head, before any byte of its body is read or `100 Continue` is sent,
/// whether the request may go on, and throws the refusal if not: a token check, the body's
/// media type. The request it sees has no body yet.
public typealias HTTPAdmission = @Sendable (HTTPServerRequest) throws -> Void

/// Maps a method and path to a handler.
///
/// Patterns are made of '/'-separated segments: a literal (`models`), a parameter
/// (`:name`), a parameter with a literal suffix (`:id.png` matches `abc.png` and
/// binds `id` to `abc`), or a final wildcard (`*path`) that binds the rest of the
/// path. When several patterns match, literals beat parameters beat wildcards,
/// segment by segment from the left.
public final class Router: @unchecked Sendable {
    /// Which bounded pool runs a route's handler.
    public enum Lane: Sendable {
        /// The main pool, sized by `HTTPServerConfiguration.handlerConcurrency`: for
        /// anything that computes, blocks, or takes long.
        case standard
        /// A separate small pool for handlers that answer at once (health checks,
        /// metrics, static files), so they never wait behind slow handlers.
        case quick
    }

    struct Route {
        let method: HTTPRequest.Method
        let pattern: RoutePattern
        let bodyLimit: Int?
        let bodyLimitSetting: String?
        let lane: Lane
        let queue: String
        let admission: HTTPAdmission?
        let handler: HTTPHandler
    }

    /// The queue class of routes added without one.
    public static let defaultQueue = "default"

    /// The route chosen for a request.
    public struct Found: Sendable {
        public let handler: HTTPHandler
        /// Values of the pattern's parameters, percent-decoded.
        public let parameters: [String: String]
        public let pattern: String
        public let bodyLimit: Int?
        /// The setting that sets `bodyLimit`, which a 413 names.
        public let bodyLimitSetting: String?
        public let lane: Lane
        /// The class whose queue limit the request counts against while it waits for a handler
        /// (`HTTPServerConfiguration.queueLimits`).
        public let queue: String
        public let admission: HTTPAdmission?
    }

    public enum Match: Sendable {
        case found(Found)
        /// The path exists for other methods; the list is what `Allow` reports.
        case methodNotAllowed(allowed: [HTTPRequest.Method])
        case notFound
        /// The path has a malformed percent escape.
        case invalidPath
    }

    private var routes: [Route] = []
    private var errorFormats: [(prefix: [String], format: HTTPErrorFormat)] = []

    public init() {}

    /// A registered route's method and pattern, such as GET "/v1/models/:name".
    public struct Registration: Hashable, Sendable {
        public let method: HTTPRequest.Method
        public let pattern: String
        /// The queue class its requests wait in.
        public let queue: String
    }

    /// Every route in the order it was added, so a description of the API (OpenAPI) can be
    /// checked against what is actually served.
    public var registrations: [Registration] {
        routes.map { Registration(method: $0.method, pattern: $0.pattern.text, queue: $0.queue) }
    }

    /// Errors on paths under `prefix` ("/v2" covers "/v2" and "/v2/models", not "/v2x") are
    /// written in `format`; the longest matching prefix wins, and other paths get
    /// `.codeAndMessage`. It covers the server's own answers there too (404, 405, refusals).
    public func setErrorFormat(_ format: HTTPErrorFormat, forPathsUnder prefix: String) {
        errorFormats.append((prefix.split(separator: "/").map(String.init), format))
    }

    /// The error format for `path` (percent-encoded, without query).
    public func errorFormat(for path: String) -> HTTPErrorFormat {
        guard !errorFormats.isEmpty else { return .codeAndMessage }
        let segments = RoutePattern.decodedSegments(of: path) ?? path.split(separator: "/").map(String.init)
        let matching = errorFormats.filter { segments.starts(with: $0.prefix) }
        return matching.max { $0.prefix.count < $1.prefix.count }?.format ?? .codeAndMessage
    }

    /// Adds a route. `bodyLimit` overrides the server's body limit for it, up or down, and
    /// `bodyLimitSetting` is what its 413 names; `queue` names the queue limit its waiting requests
    /// count against; `admission` runs on the head alone, before the body is read. Register every
    /// route before starting the server.
    public func add(_ method: HTTPRequest.Method, _ pattern: String, bodyLimit: Int? = nil, bodyLimitSetting: String? = nil,
                    lane: Lane = .standard, queue: String = Router.defaultQueue, admission: HTTPAdmission? = nil,
                    _ handler: @escaping HTTPHandler) {
        routes.append(Route(method: method, pattern: RoutePattern(pattern), bodyLimit: bodyLimit, bodyLimitSetting: bodyLimitSetting,
                            lane: lane, queue: queue, admission: admission, handler: handler))
    }

    public func get(_ pattern: String, lane: Lane = .standard, _ handler: @escaping HTTPHandler) {
        add(.get, pattern, lane: lane, handler)
    }

    public func post(_ pattern: String, bodyLimit: Int? = nil, _ handler: @escaping HTTPHandler) {
        add(.post, pattern, bodyLimit: bodyLimit, handler)
    }

    public func put(_ pattern: String, bodyLimit: Int? = nil, _ handler: @escaping HTTPHandler) {
        add(.put, pattern, bodyLimit: bodyLimit, handler)
    }

    public func delete(_ pattern: String, _ handler: @escaping HTTPHandler) {
        add(.delete, pattern, handler)
    }

    /// Finds the handler for `path` (percent-encoded, without query). HEAD falls
    /// back to GET routes.
    public func match(method: HTTPRequest.Method, path: String) -> Match {
        guard let segments = RoutePattern.decodedSegments(of: path) else { return .invalidPath }
        var best: (route: Route, parameters: [String: String])?
        var allowed: [HTTPRequest.Method] = []
        for route in routes {
            guard let parameters = route.pattern.match(segments) else { continue }
            if !allowed.contains(route.method) { allowed.append(route.method) }
            guard route.method == method || (method == .head && route.method == .get) else { continue }
            // An exact method match beats the HEAD-to-GET fallback at equal specificity.
            if let current = best {
                let order = RoutePattern.compareSpecificity(route.pattern, current.route.pattern)
                if order < 0 || (order == 0 && !(route.method == method && current.route.method != method)) {
                    continue
                }
            }
            best = (route, parameters)
        }
        if let best {
            return .found(Found(handler: best.route.handler, parameters: best.parameters, pattern: best.route.pattern.text,
                                bodyLimit: best.route.bodyLimit, bodyLimitSetting: best.route.bodyLimitSetting,
                                lane: best.route.lane, queue: best.route.queue,
                                admission: best.route.admission))
        }
        guard !allowed.isEmpty else { return .notFound }
        if allowed.contains(.get) && !allowed.contains(.head) { allowed.append(.head) }
        if !allowed.contains(.options) { allowed.append(.options) }
        return .methodNotAllowed(allowed: allowed)
    }
}

/// A parsed route pattern.
struct RoutePattern {
    enum Segment: Equatable {
        case literal(String)
        case parameter(name: String, suffix: String)
        case wildcard(name: String)

        var rank: Int {
            switch self {
            case .literal: return 3
            case .parameter(_, let suffix): return suffix.isEmpty ? 1 : 2
            case .wildcard: return 0
            }
        }
    }

    let text: String
    let segments: [Segment]

    init(_ text: String) {
        self.text = text
        segments = text.split(separator: "/").enumerated().map { index, part in
            if part.hasPrefix("*") {
                return .wildcard(name: String(part.dropFirst()))
            }
            if part.hasPrefix(":") {
                let body = part.dropFirst()
                let name = body.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                return .parameter(name: String(name), suffix: String(body.dropFirst(name.count)))
            }
            return .literal(String(part))
        }
        if let wildcard = segments.firstIndex(where: { if case .wildcard = $0 { return true } else { return false } }) {
            precondition(wildcard == segments.count - 1, "A wildcard must be the last segment of '\(text)'")
        }
    }

    /// Splits a percent-encoded path into decoded segments; empty segments are
    /// dropped so that "//a" and "/a/" route like "/a". A decoded '/' stays inside
    /// its segment.
    static func decodedSegments(of path: String) -> [String]? {
        var result: [String] = []
        for part in path.split(separator: "/") {
            guard let decoded = PercentEncoding.decode(part) else { return nil }
            result.append(decoded)
        }
        return result
    }

    func match(_ path: [String]) -> [String: String]? {
        var parameters: [String: String] = [:]
        for (index, segment) in segments.enumerated() {
            switch segment {
            case .wildcard(let name):
                parameters[name] = path[index...].joined(separator: "/")
                return parameters
            case .literal(let literal):
                guard index < path.count, path[index] == literal else { return nil }
            case .parameter(let name, let suffix):
                guard index < path.count, path[index].count > suffix.count, path[index].hasSuffix(suffix) else { return nil }
                parameters[name] = String(path[index].dropLast(suffix.count))
            }
        }
        return path.count == segments.count ? parameters : nil
    }

    /// Positive when `lhs` is more specific than `rhs`.
    static func compareSpecificity(_ lhs: RoutePattern, _ rhs: RoutePattern) -> Int {
        for (left, right) in zip(lhs.segments, rhs.segments) where left.rank != right.rank {
            return left.rank - right.rank
        }
        return lhs.segments.count - rhs.segments.count
    }
}
