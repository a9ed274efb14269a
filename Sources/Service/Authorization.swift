import Foundation
import HTTPServer
import HTTPTypes

/// Checks `Authorization: Bearer <token>` against the tokens a route accepts; nil accepts anyone.
struct Authorization: Sendable {
    let tokens: [String]?

    func check(_ request: HTTPServerRequest) throws {
        guard let tokens else { return }
        let header = request.headerFields[.authorization] ?? ""
        let presented = header.hasPrefix("Bearer ") ? String(header.dropFirst(7)) : ""
        // Every token is compared, so the time taken does not say which one came close.
        let matches = tokens.map { Authorization.constantTimeEqual(presented, $0) }.contains(true)
        guard !presented.isEmpty, matches else {
            var fields = HTTPFields()
            fields[.wwwAuthenticate] = "Bearer"
            throw HTTPError(.unauthorized, code: "unauthorized",
                            message: "this route needs the header Authorization: Bearer <token>", headerFields: fields)
        }
    }

    /// Compares without an early exit, so response time does not reveal how much matched.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0
    }
}

/// The classes of routes, each with its own queue limit (`max_queued_*`) and token.
enum RouteClass: String, CaseIterable {
    /// Classification, saliency, `/v2` inference: computations that only answer.
    case inference
    /// Listings, cards, exports, job status.
    case reads
    /// Uploads, deletions, jobs: what changes state.
    case writes
    /// Health, readiness, metrics and the web UI's files, on the server's quick lane.
    case operations
}

/// Registers routes behind the tokens, checked with the body's media type on the head alone,
/// before the body is read: routes that change state need the write token when one is set,
/// reads and inference the read token when reads are protected.
struct GuardedRouter {
    let router: Router
    let reads: Authorization
    let writes: Authorization

    func get(_ pattern: String, _ handler: @escaping HTTPHandler) {
        router.add(.get, pattern, queue: RouteClass.reads.rawValue, admission: admission(reads, bodies: nil), handler)
    }

    /// A computation that only answers (classify, saliency, infer), taking `bodies`.
    func inference(_ pattern: String, bodies: AcceptedBodyTypes, _ handler: @escaping HTTPHandler) {
        router.add(.post, pattern, queue: RouteClass.inference.rawValue, admission: admission(reads, bodies: bodies), handler)
    }

    /// A POST that only reads (the model repository's index), taking `bodies`.
    func read(_ pattern: String, bodies: AcceptedBodyTypes, _ handler: @escaping HTTPHandler) {
        router.add(.post, pattern, queue: RouteClass.reads.rawValue, admission: admission(reads, bodies: bodies), handler)
    }

    /// A request that changes state, taking `bodies`.
    /// `bodyLimit` is the setting an upload route's larger body limit comes from.
    func post(_ pattern: String, bodies: AcceptedBodyTypes, bodyLimit: (bytes: Int, setting: String)? = nil,
              _ handler: @escaping HTTPHandler) {
        router.add(.post, pattern, bodyLimit: bodyLimit?.bytes, bodyLimitSetting: bodyLimit?.setting, queue: RouteClass.writes.rawValue,
                   admission: admission(writes, bodies: bodies), handler)
    }

    /// A quick GET of the server's own (health, metrics, the UI's files), open unless `isRead`.
    func operation(_ pattern: String, isRead: Bool = false, _ handler: @escaping HTTPHandler) {
        router.add(.get, pattern, lane: .quick, queue: RouteClass.operations.rawValue,
                   admission: admission(isRead ? reads : Authorization(tokens: nil), bodies: nil), handler)
    }

    /// A PUT that changes state, taking `bodies`.
    func put(_ pattern: String, bodies: AcceptedBodyTypes, _ handler: @escaping HTTPHandler) {
        router.add(.put, pattern, queue: RouteClass.writes.rawValue, admission: admission(writes, bodies: bodies), handler)
    }

    func delete(_ pattern: String, _ handler: @escaping HTTPHandler) {
        router.add(.delete, pattern, queue: RouteClass.writes.rawValue, admission: admission(writes, bodies: nil), handler)
    }

    /// The token first, so that a client without one learns nothing of what the route takes.
    private func admission(_ authorization: Authorization, bodies: AcceptedBodyTypes?) -> HTTPAdmission {
        { request in
            try authorization.check(request)
            if let refusal = (bodies ?? .none).refusal(for: request.head) { throw refusal }
        }
    }
}

extension AcceptedBodyTypes {
    /// An image file as the body, or a multipart form of them. Image files announce their format
    /// in their first bytes, so clients that are not browsers may leave the type out.
    static let images = AcceptedBodyTypes(["image/*", "application/octet-stream", "multipart/form-data"],
                                          untypedFromNonBrowsers: true)
}
