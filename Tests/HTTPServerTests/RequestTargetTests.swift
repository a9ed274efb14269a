import HTTPServer
import HTTPTypes
import XCTest

/// The three forms of request target, split in memory.
final class RequestTargetTests: XCTestCase {
    private func split(_ target: String, _ method: HTTPRequest.Method = .get) -> RequestTarget? {
        RequestTarget(target, method: method)
    }

    func testOriginForm() {
        XCTAssertEqual(split("/a/b?x=1&y"), RequestTarget("/a/b?x=1&y", method: .get))
        XCTAssertEqual(split("/a/b?x=1&y")?.path, "/a/b")
        XCTAssertEqual(split("/a/b?x=1&y")?.query, "x=1&y")
        XCTAssertEqual(split("/")?.query, nil)
        XCTAssertEqual(split("/?")?.query, "", "an empty query is still a query")
        XCTAssertEqual(split("/a%2Fb?q=%3F?")?.path, "/a%2Fb", "the path stays percent-encoded")
        XCTAssertEqual(split("/a%2Fb?q=%3F?")?.query, "q=%3F?", "only the first '?' splits")
        XCTAssertNil(split("/x")?.authority)
    }

    func testAbsoluteFormNamesItsAuthority() {
        let target = split("http://Example.com:8080/a?b")
        XCTAssertEqual(target?.authority, "Example.com:8080")
        XCTAssertEqual(target?.path, "/a")
        XCTAssertEqual(target?.query, "b")
        XCTAssertEqual(split("HTTPS://host")?.path, "/")
        XCTAssertEqual(split("https://host")?.authority, "host")
        XCTAssertEqual(split("http://host?q")?.path, "/")
        XCTAssertEqual(split("http://host?q")?.query, "q")
        XCTAssertNil(split("ftp://host/a"))
        XCTAssertNil(split("host/a"))
        XCTAssertNil(split("a"))
    }

    func testAsteriskFormOnlyForOptions() {
        XCTAssertEqual(split("*", .options)?.path, "*")
        XCTAssertNil(split("*", .get))
    }
}
