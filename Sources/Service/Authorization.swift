import Foundation
import HTTPServer
import HTTPTypes

/// Checks `Authorization: Bearer <token>` when the service has a token.
struct Authorization: Sendable {
    let token: String?

    func check(_ request: HTTPServerRequest) throws {
        guard let token else { return }
        let header = request.headerFields[.authorization] ?? ""
        let presented = header.hasPrefix("Bearer ") ? String(header.dropFirst(7)) : ""
        guard Authorization.constantTimeEqual(presented, token) else {
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

/// Registers routes behind the token: routes that change state always need it when one is
/// set, reads only when the operator protects reads too.
struct GuardedRouter {
    let router: Router
    let reads: Authorization
    let writes: Authorization

    func get(_ pattern: String, _ handler: @escaping HTTPHandler) {
        let reads = reads
        router.get(pattern) { request in
            try reads.check(request)
            return try handler(request)
        }
    }

    /// `changesState` is false for computations that only answer (classify, saliency, infer).
    func post(_ pattern: String, changesState: Bool, bodyLimit: Int? = nil, _ handler: @escaping HTTPHandler) {
        let check = changesState ? writes : reads
        router.post(pattern, bodyLimit: bodyLimit) { request in
            try check.check(request)
            return try handler(request)
        }
    }

    func delete(_ pattern: String, _ handler: @escaping HTTPHandler) {
        let writes = writes
        router.delete(pattern) { request in
            try writes.check(request)
            return try handler(request)
        }
    }
}
