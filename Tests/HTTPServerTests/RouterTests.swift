import HTTPServer
import HTTPTypes
import XCTest

final class RouterTests: XCTestCase {
    private func matched(_ router: Router, _ method: HTTPRequest.Method, _ path: String) -> (String, [String: String])? {
        guard case .found(let found) = router.match(method: method, path: path) else { return nil }
        return (found.pattern, found.parameters)
    }

    func testParametersSuffixesAndPrecedence() {
        let router = Router()
        let ok: HTTPHandler = { _ in .text("") }
        router.get("/v1/models", ok)
        router.get("/v1/models/:name", ok)
        router.post("/v1/models/:name/classify", ok)
        router.get("/v1/models/default", ok)
        router.get("/v1/saliency/:id.png", ok)
        router.get("/v1/saliency/:id", ok)
        router.get("/*path", ok)

        XCTAssertEqual(matched(router, .get, "/v1/models")?.0, "/v1/models")
        XCTAssertEqual(matched(router, .get, "/v1/models/")?.0, "/v1/models")
        XCTAssertEqual(matched(router, .get, "/v1/models/default")?.0, "/v1/models/default")
        XCTAssertEqual(matched(router, .get, "/v1/models/resnet")?.1, ["name": "resnet"])
        XCTAssertEqual(matched(router, .post, "/v1/models/fashion-cnn/classify")?.1, ["name": "fashion-cnn"])
        XCTAssertEqual(matched(router, .get, "/v1/saliency/abc123.png")?.0, "/v1/saliency/:id.png")
        XCTAssertEqual(matched(router, .get, "/v1/saliency/abc123.png")?.1, ["id": "abc123"])
        XCTAssertEqual(matched(router, .get, "/v1/saliency/abc123.jpg")?.1, ["id": "abc123.jpg"])
        XCTAssertEqual(matched(router, .get, "/v1/models/a%2Fb")?.1, ["name": "a/b"])
        XCTAssertEqual(matched(router, .get, "/css/site.css")?.1, ["path": "css/site.css"])
        XCTAssertEqual(matched(router, .head, "/v1/models/x")?.0, "/v1/models/:name")
        XCTAssertEqual(matched(router, .get, "/")?.1, ["path": ""])
    }

    func testMethodNotAllowedAndNotFound() {
        let router = Router()
        router.get("/jobs/:id", { _ in .text("") })
        router.add(.post, "/jobs/:id/cancel", { _ in .text("") })
        guard case .methodNotAllowed(let allowed) = router.match(method: .delete, path: "/jobs/1") else {
            return XCTFail("expected 405")
        }
        XCTAssertEqual(allowed, [.get, .head, .options])
        guard case .notFound = router.match(method: .get, path: "/jobs/1/cancel/now") else { return XCTFail() }
        guard case .invalidPath = router.match(method: .get, path: "/jobs/%G1") else { return XCTFail() }
    }

    func testPercentDecoding() {
        XCTAssertEqual(PercentEncoding.decode("a%20b%2Fc"), "a b/c")
        XCTAssertEqual(PercentEncoding.decode("a+b", plusAsSpace: true), "a b")
        XCTAssertNil(PercentEncoding.decode("%4"))
        XCTAssertNil(PercentEncoding.decode("%ff"), "not UTF-8")
    }
}
