import HTTPServer
import HTTPTypes
import XCTest

/// A parsed head becomes swift-http-types' request, in memory.
final class HeadConversionTests: XCTestCase {
    private struct Unparsed: Error {}

    private func head(_ method: String = "POST", _ target: String = "/v1/x?y=1", fields: [(String, String)]) throws -> HTTPRequestHead {
        var parser = HTTPRequestParser()
        let text = "\(method) \(target) HTTP/1.1\r\n" + fields.map { "\($0.0): \($0.1)\r\n" }.joined() + "\r\n"
        parser.append(contentsOf: Array(text.utf8))
        guard case .head(let head)? = try parser.next() else { throw Unparsed() }
        return head
    }

    func testFieldsMethodAndTargetCarryOver() throws {
        let (request, target) = try head(fields: [("Host", "example.com:81"), ("X-A", "1"), ("x-a", "2"), ("Content-Length", "0")])
            .request(isSecure: true)
        XCTAssertEqual(request.method, .post)
        XCTAssertEqual(request.scheme, "https")
        XCTAssertEqual(request.authority, "example.com:81")
        XCTAssertEqual(request.path, "/v1/x?y=1", "the raw target, as HTTPRequest keeps it")
        XCTAssertEqual(request.headerFields[values: HTTPField.Name("X-A")!], ["1", "2"], "repeated fields keep their order")
        XCTAssertEqual(target.path, "/v1/x")
        XCTAssertEqual(target.query, "y=1")
        XCTAssertEqual(try head("GET", fields: [("Host", "h")]).request(isSecure: false).request.scheme, "http")
    }

    func testAnUnusableTargetIsAMalformedRequestLine() {
        XCTAssertThrowsError(try head("GET", "*", fields: [("Host", "h")]).request(isSecure: false)) {
            XCTAssertEqual($0 as? HTTPParseError, .malformedRequestLine)
        }
        XCTAssertThrowsError(try head("GET", "ftp://h/x", fields: [("Host", "h")]).request(isSecure: false)) {
            XCTAssertEqual($0 as? HTTPParseError, .malformedRequestLine)
        }
        XCTAssertNoThrow(try head("OPTIONS", "*", fields: [("Host", "h")]).request(isSecure: false))
    }
}
