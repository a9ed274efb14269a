import Foundation
import HTTPServer
import HTTPTypes
import XCTest

/// Errors as a protocol: whatever conforms is rendered, in its route family's format; anything
/// else is a 500 with an empty body.
final class ErrorResponseTests: XCTestCase {
    /// A domain error of the kind a service defines, not the server's own `HTTPError`.
    struct Overdrawn: HTTPResponseError {
        var status: HTTPResponse.Status { .tooManyRequests }
        var headerFields: HTTPFields { [.retryAfter: "3"] }
        var message: String { "The account is overdrawn." }
    }

    private func router() -> Router {
        let router = Router()
        router.get("/v1/pay") { _ in throw Overdrawn() }
        router.get("/v1/crash") { _ in throw Boom() }
        router.get("/v2/pay") { _ in throw Overdrawn() }
        router.post("/v2/small", bodyLimit: 4) { _ in .text("small") }
        router.get("/v2x/pay") { _ in throw Overdrawn() }
        router.setErrorFormat(.message, forPathsUnder: "/v2")
        return router
    }

    func testAConformingErrorIsRenderedWithItsStatusHeadersCodeAndMessage() throws {
        let response = Overdrawn().response()
        XCTAssertEqual(response.status, .tooManyRequests)
        XCTAssertEqual(response.head.headerFields[.retryAfter], "3")
        XCTAssertEqual(response.head.headerFields[.contentType], "application/json")
        guard case .bytes(let body) = response.body else { return XCTFail("expected bytes") }
        XCTAssertEqual(String(decoding: body, as: UTF8.self),
                       #"{"error":{"code":"too_many_requests","message":"The account is overdrawn."}}"#)
        guard case .bytes(let flat) = Overdrawn().response(format: .message).body else { return XCTFail("expected bytes") }
        XCTAssertEqual(String(decoding: flat, as: UTF8.self), #"{"error":"The account is overdrawn."}"#)
    }

    func testTheLongestMatchingPrefixChoosesTheFormat() {
        let router = Router()
        let nested = HTTPErrorFormat { _, _ in ("text/plain", Data("nested".utf8)) }
        router.setErrorFormat(.message, forPathsUnder: "/v2")
        router.setErrorFormat(nested, forPathsUnder: "/v2/repository")
        func rendered(_ path: String) -> String {
            String(decoding: router.errorFormat(for: path).render("c", "m").body, as: UTF8.self)
        }
        XCTAssertEqual(rendered("/v2"), #"{"error":"m"}"#)
        XCTAssertEqual(rendered("/v2/models/a"), #"{"error":"m"}"#)
        XCTAssertEqual(rendered("/v2/repository/index"), "nested")
        XCTAssertEqual(rendered("/v2x"), #"{"error":{"code":"c","message":"m"}}"#)
        XCTAssertEqual(rendered("/v1/models"), #"{"error":{"code":"c","message":"m"}}"#)
    }

    func testTheServerRendersHandlerErrorsAndItsOwnAnswersInTheRouteFamilysFormat() throws {
        let server = try TestServer(router: router(), listening: false)
        defer { server.stop() }
        let client = try server.client()

        try client.send("GET /v1/pay HTTP/1.1\r\nHost: t\r\n\r\n")
        let nested = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(nested.status, 429)
        XCTAssertEqual(nested.header("retry-after"), "3")
        XCTAssertEqual(nested.text, #"{"error":{"code":"too_many_requests","message":"The account is overdrawn."}}"#)

        try client.send("GET /v2/pay HTTP/1.1\r\nHost: t\r\n\r\n")
        let flat = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(flat.status, 429)
        XCTAssertEqual(flat.header("retry-after"), "3")
        XCTAssertEqual(flat.text, #"{"error":"The account is overdrawn."}"#)

        try client.send("GET /v2x/pay HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.errorCode, "too_many_requests")

        try client.send("GET /v2/nowhere HTTP/1.1\r\nHost: t\r\n\r\n")
        let notFound = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(notFound.status, 404)
        XCTAssertEqual(notFound.text, #"{"error":"No resource at /v2/nowhere."}"#)

        try client.send("DELETE /v2/pay HTTP/1.1\r\nHost: t\r\n\r\n")
        let notAllowed = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(notAllowed.status, 405)
        XCTAssertEqual(notAllowed.header("allow"), "GET, HEAD, OPTIONS")
        XCTAssertNotNil((try JSONSerialization.jsonObject(with: notAllowed.body) as? [String: Any])?["error"] as? String)

        try client.send("GET /v1/nowhere HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.errorCode, "not_found")
    }

    func testARefusalBeforeTheHandlerUsesTheRouteFamilysFormat() throws {
        let server = try TestServer(router: router(), listening: false)
        defer { server.stop() }
        let client = try server.client()
        try client.send("POST /v2/small HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        let refusal = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(refusal.status, 413)
        XCTAssertNotNil((try JSONSerialization.jsonObject(with: refusal.body) as? [String: Any])?["error"] as? String,
                        refusal.text)
    }

    func testAnyOtherErrorIsA500WithAnEmptyBody() throws {
        let server = try TestServer(router: router(), listening: false)
        defer { server.stop() }
        let client = try server.client()
        try client.send("GET /v1/crash HTTP/1.1\r\nHost: t\r\n\r\n")
        let crash = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(crash.status, 500)
        XCTAssertEqual(crash.body.count, 0)
        XCTAssertEqual(crash.header("content-length"), "0")
        // The connection stays usable: a 500 is an answer, not a broken stream.
        try client.send("GET /v1/pay HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 429)
    }
}
