import Foundation
import HTTPServer
import TestSupport
import XCTest

/// Files from a folder: types, revalidation, and no way out of the folder.
final class StaticFileTests: XCTestCase {
    private var folder: URL!
    private var server: TestServer!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("static-\(UUID().uuidString)")
        let publicFolder = folder.appendingPathComponent("public")
        try FileManager.default.createDirectory(at: publicFolder.appendingPathComponent("css"), withIntermediateDirectories: true)
        try "<h1>Salient</h1>".write(to: publicFolder.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        try "body { color: red; }".write(to: publicFolder.appendingPathComponent("css/site.css"), atomically: true, encoding: .utf8)
        try Data([0x89, 0x50, 0x4E, 0x47]).write(to: publicFolder.appendingPathComponent("logo.png"))
        try patternData(10_000_000).write(to: publicFolder.appendingPathComponent("model.onnx"))
        try "top secret".write(to: folder.appendingPathComponent("secret.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(at: publicFolder.appendingPathComponent("escape.txt"),
                                                   withDestinationURL: folder.appendingPathComponent("secret.txt"))
        try FileManager.default.createSymbolicLink(at: publicFolder.appendingPathComponent("up"), withDestinationURL: folder)

        let router = Router()
        router.get("/*path", try StaticFileHandler(root: publicFolder.path).handler)
        router.get("/api/ping") { _ in .text("pong") }
        server = try TestServer(router: router)
    }

    override func tearDownWithError() throws {
        server.stop()
        try FileManager.default.removeItem(at: folder)
    }

    private func get(_ target: String, headers: String = "") throws -> RawResponse {
        let client = try RawClient(port: server.port)
        try client.send("GET \(target) HTTP/1.1\r\nHost: t\r\n\(headers)\r\n")
        return try XCTUnwrap(client.readResponse())
    }

    func testServesFilesWithContentTypes() throws {
        let index = try get("/")
        XCTAssertEqual(index.status, 200)
        XCTAssertEqual(index.text, "<h1>Salient</h1>")
        XCTAssertEqual(index.header("content-type"), "text/html; charset=utf-8")
        XCTAssertEqual(try get("/css/site.css").header("content-type"), "text/css; charset=utf-8")
        XCTAssertEqual(try get("/logo.png").header("content-type"), "image/png")
        XCTAssertEqual(try get("/api/ping").text, "pong", "a literal route still wins over the wildcard")
        XCTAssertEqual(try get("/nope.html").status, 404)
    }

    func testLargeFilesAreStreamedWithTheirLength() throws {
        let client = try RawClient(port: server.port)
        try client.send("HEAD /model.onnx HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse(head: true)?.header("content-length"), "10000000")
        try client.send("GET /model.onnx HTTP/1.1\r\nHost: t\r\n\r\n")
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(response.header("content-length"), "10000000")
        XCTAssertNil(response.header("transfer-encoding"))
        XCTAssertEqual(response.body, patternData(10_000_000))
        try client.send("GET /css/site.css HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 200, "the connection stays usable")
    }

    func testETagRevalidation() throws {
        let first = try get("/css/site.css")
        let etag = try XCTUnwrap(first.header("etag"))
        XCTAssertNotNil(first.header("last-modified"))
        let revalidated = try get("/css/site.css", headers: "If-None-Match: \"other\", \(etag)\r\n")
        XCTAssertEqual(revalidated.status, 304)
        XCTAssertEqual(revalidated.header("etag"), etag)
        XCTAssertTrue(revalidated.body.isEmpty)
        XCTAssertEqual(try get("/css/site.css", headers: "If-None-Match: \"stale\"\r\n").status, 200)
    }

    func testNoWayOutOfTheFolder() throws {
        let attempts = [
            "/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt", "/css/..%2f..%2fsecret.txt",
            "/..%5csecret.txt", "//etc/passwd", "/%2fetc%2fpasswd", "/escape.txt", "/up/secret.txt",
            "/css/%2e%2e/%2e%2e/secret.txt", "/index.html%00.png",
        ]
        for target in attempts {
            let response = try get(target)
            XCTAssertNotEqual(response.status, 200, target)
            XCTAssertFalse(response.text.contains("top secret"), target)
            XCTAssertFalse(response.text.contains("root:"), target)
        }
        let viaCurl = try runCommand(curl, ["-sS", "--path-as-is", "\(server.url)/../../secret.txt"])
        XCTAssertFalse(viaCurl.output.contains("top secret"))
    }
}
