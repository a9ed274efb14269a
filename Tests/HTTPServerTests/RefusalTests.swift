import Foundation
import HTTPServer
import XCTest

/// Every malformed, oversized or smuggling-prone request is refused with the
/// right status and JSON body, and the connection is closed afterwards.
final class RefusalTests: XCTestCase {
    private var server: TestServer!

    override func setUpWithError() throws {
        var configuration = HTTPServerConfiguration()
        configuration.maxRequestLineBytes = 256
        configuration.maxHeaderBytes = 1024
        configuration.maxHeaderFields = 10
        configuration.maxBodyBytes = 1000
        server = try TestServer(configuration: configuration, router: makeTestRouter(), listening: false)
    }

    override func tearDown() {
        server.stop()
    }

    /// `naming`: words the message must hold (a limit and its setting).
    private func assertRefused(_ request: String, status: Int, code: String, naming words: [String] = [],
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let client = try server.client()
        try client.send(request)
        let response = try XCTUnwrap(client.readResponse(), "no response to \(request.debugDescription)", file: file, line: line)
        XCTAssertEqual(response.status, status, request.debugDescription, file: file, line: line)
        XCTAssertEqual(response.errorCode, code, request.debugDescription, file: file, line: line)
        for word in words {
            XCTAssertTrue(response.text.contains(word), "\(response.text) does not name \(word)", file: file, line: line)
        }
        XCTAssertEqual(response.header("connection"), "close", file: file, line: line)
        XCTAssertTrue(client.isClosedByPeer(), "connection left open after \(request.debugDescription)", file: file, line: line)
    }

    func testSmugglingVectorsAreRefused() throws {
        let cases: [(String, Int, String)] = [
            ("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
             400, "content_length_with_transfer_encoding"),
            ("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
             400, "invalid_content_length"),
            ("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 4\r\n\r\nabcd", 400, "invalid_content_length"),
            ("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: +3\r\n\r\nabc", 400, "invalid_content_length"),
            ("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0x3\r\n\r\nabc", 400, "invalid_content_length"),
            ("GET /hello HTTP/1.1\r\nHost: t\r\nX-Long: a\r\n b\r\n\r\n", 400, "obsolete_line_folding"),
            ("GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n", 400, "bare_carriage_return"),
            ("GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\nX-B: b\r\n\r\n", 400, "bare_line_feed"),
            ("GET /hello HTTP/1.1\r\nHost : t\r\n\r\n", 400, "whitespace_before_colon"),
            ("GET /hello HTTP/1.1\r\nHost: t\r\nX-A\t: a\r\n\r\n", 400, "whitespace_before_colon"),
            ("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400, "invalid_chunk"),
            ("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n", 400, "invalid_chunk"),
            ("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", 400, "invalid_chunk"),
            ("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n0\r\n\r\n", 400, "invalid_chunk"),
            ("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n", 413, "payload_too_large"),
            ("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, "unsupported_transfer_coding"),
            ("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400, "invalid_transfer_encoding"),
            ("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n\r\n", 400, "invalid_transfer_encoding"),
            ("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
             400, "invalid_transfer_encoding"),
            ("POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "invalid_transfer_encoding"),
            ("GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "multiple_hosts"),
            ("GET /hello HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid_host"),
            ("GET /hello HTTP/1.1\r\nHost: evil.com/x@a\r\n\r\n", 400, "invalid_host"),
        ]
        for (request, status, code) in cases {
            try assertRefused(request, status: status, code: code)
        }
    }

    func testMalformedRequestsGet400() throws {
        let cases: [(String, String)] = [
            ("GET /hello\r\nHost: t\r\n\r\n", "malformed_request_line"),
            ("GET  /hello HTTP/1.1\r\nHost: t\r\n\r\n", "malformed_request_line"),
            ("GET /he llo HTTP/1.1\r\nHost: t\r\n\r\n", "malformed_request_line"),
            ("G(T /hello HTTP/1.1\r\nHost: t\r\n\r\n", "malformed_request_line"),
            ("GET /hello HTTP/1.1x\r\nHost: t\r\n\r\n", "malformed_request_line"),
            ("GET /hello http/1.1\r\nHost: t\r\n\r\n", "malformed_request_line"),
            ("GET hello HTTP/1.1\r\nHost: t\r\n\r\n", "malformed_request_line"),
            ("GET /hello HTTP/1.1\r\n\r\n", "missing_host"),
            ("GET /hello HTTP/1.1\r\nHost: t\r\nBad\u{1}Name: x\r\n\r\n", "invalid_header_field"),
            ("GET /hello HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n", "invalid_header_field"),
            ("GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\u{0}b\r\n\r\n", "invalid_header_field"),
        ]
        for (request, code) in cases {
            try assertRefused(request, status: 400, code: code)
        }
    }

    func testOtherVersionsGet505() throws {
        for version in ["HTTP/2.0", "HTTP/0.9", "HTTP/1.2", "HTTP/3.0"] {
            try assertRefused("GET /hello \(version)\r\nHost: t\r\n\r\n", status: 505, code: "http_version_not_supported")
        }
    }

    func testLengthRequired() throws {
        try assertRefused("POST /echo HTTP/1.1\r\nHost: t\r\n\r\n", status: 411, code: "length_required")
    }

    func testBodyLimitsAndRouteOverride() throws {
        try assertRefused("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n", status: 413, code: "payload_too_large",
                          naming: ["1000 bytes", "maxBodyBytes"])
        try assertRefused("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                          status: 413, code: "payload_too_large")
        let chunks = String(repeating: "64\r\n" + String(repeating: "x", count: 100) + "\r\n", count: 11)
        try assertRefused("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + "0\r\n\r\n",
                          status: 413, code: "payload_too_large", naming: ["1000 bytes", "maxBodyBytes"])
        // /small lowers the limit to 10; /pattern raises it above the server's 1000.
        try assertRefused("POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nxxxxxxxxxxx", status: 413,
                          code: "payload_too_large", naming: ["10 bytes", "smallBodyLimit"])
        let client = try server.client()
        try client.send("POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nxxxxxxxxxx")
        XCTAssertEqual(client.readResponse()?.text, "10")
        try client.send(Array("POST /pattern HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n".utf8) + patternData(5000))
        XCTAssertEqual(client.readResponse()?.text, "5000 true")
    }

    func testRequestLineAndHeaderLimits() throws {
        let longTarget = "/" + String(repeating: "a", count: 300)
        try assertRefused("GET \(longTarget) HTTP/1.1\r\nHost: t\r\n\r\n", status: 414, code: "uri_too_long")
        let bigHeader = "X-Big: " + String(repeating: "b", count: 1100) + "\r\n"
        try assertRefused("GET /hello HTTP/1.1\r\nHost: t\r\n\(bigHeader)\r\n", status: 431, code: "header_fields_too_large")
        let manyHeaders = (0..<11).map { "X-\($0): v\r\n" }.joined()
        try assertRefused("GET /hello HTTP/1.1\r\n\(manyHeaders)\r\n", status: 431, code: "too_many_header_fields")
        // Exactly at the limits is still accepted.
        let client = try server.client()
        let nineHeaders = (0..<9).map { "X-\($0): v\r\n" }.joined()
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\(nineHeaders)\r\n")
        XCTAssertEqual(client.readResponse()?.status, 200)
    }

    func testUnsupportedExpectationGets417() throws {
        try assertRefused("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nExpect: magic\r\n\r\nx", status: 417,
                          code: "expectation_failed")
    }

    func testRefusalComesAfterEarlierPipelinedResponses() throws {
        let client = try server.client()
        try client.send("GET /slow/100 HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost : t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.text, "slow 100")
        let refusal = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(refusal.status, 400)
        XCTAssertTrue(client.isClosedByPeer())
    }
}
