import Foundation
import HTTPServer
import HTTPTypes
import XCTest

/// The server's own answers when no handler matches, in memory.
final class UnhandledAnswerTests: XCTestCase {
    private let router: Router = {
        let router = Router()
        router.get("/items/:id") { _ in .text("item") }
        router.delete("/items/:id") { _ in .text("gone") }
        return router
    }()

    private func answer(_ method: HTTPRequest.Method, _ path: String,
                        format: HTTPErrorFormat = .codeAndMessage) -> HTTPServerResponse? {
        router.match(method: method, path: path).answer(method: method, path: path, format: format)
    }

    private func body(_ response: HTTPServerResponse?) -> [String: Any] {
        guard case .bytes(let data)? = response?.body else { return [:] }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }

    func testAFoundRouteHasNoAnswerOfTheServers() {
        XCTAssertNil(answer(.get, "/items/1"))
    }

    func testWrongMethodIs405WithAllowAndOptionsIs204() {
        let refused = answer(.post, "/items/1")
        XCTAssertEqual(refused?.status, .methodNotAllowed)
        XCTAssertEqual(refused?.head.headerFields[.allow], "GET, DELETE, HEAD, OPTIONS")
        XCTAssertEqual((body(refused)["error"] as? [String: String])?["code"], "method_not_allowed")
        let options = answer(.options, "/items/1")
        XCTAssertEqual(options?.status, .noContent)
        XCTAssertEqual(options?.head.headerFields[.allow], "GET, DELETE, HEAD, OPTIONS")
    }

    func testAsteriskMalformedAndMissing() {
        XCTAssertEqual(answer(.options, "*")?.status, .noContent)
        XCTAssertNotNil(answer(.options, "*")?.head.headerFields[.allow])
        XCTAssertEqual(answer(.get, "/items/%zz")?.status, .badRequest)
        XCTAssertEqual((body(answer(.get, "/items/%zz"))["error"] as? [String: String])?["code"], "invalid_path")
        let missing = answer(.get, "/nowhere")
        XCTAssertEqual(missing?.status, .notFound)
        XCTAssertEqual(body(answer(.get, "/nowhere", format: .message))["error"] as? String, "No resource at /nowhere.",
                       "the route family's format")
        XCTAssertEqual(missing?.head.headerFields[.contentType], "application/json")
    }
}
