import Foundation
import HTTPServer
import HTTPTypes
import TestSupport
import XCTest

/// The server as curl and Python's http.client see it, plus gzip.
final class InteropTests: XCTestCase {
    private var server: TestServer!

    override func setUpWithError() throws {
        server = try TestServer(router: makeTestRouter())
    }

    override func tearDown() {
        server.stop()
    }

    func testPythonReusesOneConnectionAndSendsChunkedBodies() throws {
        let script = """
        import http.client, sys
        conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
        seen = set()
        out = []
        for i in range(3):
            conn.request("GET", "/items/%d" % i)
            r = conn.getresponse()
            out.append("%d %s" % (r.status, r.read().decode()))
            seen.add(id(conn.sock))
        conn.request("POST", "/echo", body=iter([b"abc", b"defg"]), encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        r = conn.getresponse()
        out.append("%d %s" % (r.status, r.read().decode()))
        conn.request("POST", "/hello", body=b"")
        r = conn.getresponse()
        out.append("%d %s" % (r.status, r.getheader("Allow")))
        r.read()
        seen.add(id(conn.sock))
        print("|".join(out), len(seen))
        """
        let result = try runPython(script, ["\(server.port)"])
        XCTAssertEqual(result.status, 0, result.errors)
        XCTAssertEqual(result.output.trimmingCharacters(in: .whitespacesAndNewlines),
                       "200 item 0|200 item 1|200 item 2|200 abcdefg|405 GET, HEAD, OPTIONS 1")
    }

    func testCurlKeepAliveAcrossSeveralURLs() throws {
        let result = try runCommand(curl, ["-sS", "-v", "\(server.url)/hello", "\(server.url)/items/5"])
        XCTAssertEqual(result.status, 0)
        XCTAssertEqual(result.output, "helloitem 5")
        XCTAssertTrue(result.errors.contains("Re-using existing") || result.errors.contains("Reusing existing"), result.errors)
    }

    func testCurlHeadAndErrorBodies() throws {
        let head = try runCommand(curl, ["-sS", "-I", "\(server.url)/text/3"])
        XCTAssertTrue(head.output.contains("HTTP/1.1 200 OK"))
        XCTAssertTrue(head.output.lowercased().contains("content-length: 135"))
        let missing = try runCommand(curl, ["-sS", "-w", " %{http_code}", "\(server.url)/missing"])
        XCTAssertEqual(missing.output, #"{"error":{"code":"not_found","message":"No resource at /missing."}} 404"#)
    }

    func testGzipWhenAcceptedAndWorthIt() throws {
        let client = try RawClient(port: server.port)
        try client.send("GET /text/100 HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br, gzip;q=0.8\r\n\r\n")
        let compressed = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(compressed.header("content-encoding"), "gzip")
        XCTAssertEqual(compressed.header("vary"), "Accept-Encoding")
        XCTAssertLessThan(compressed.body.count, 4500 / 4)
        let expected = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 100)
        XCTAssertEqual(Gzip.decompress(compressed.body).map { String(decoding: $0, as: UTF8.self) }, expected)

        let cases: [(String, String)] = [
            ("/text/100", ""),                          // not accepted
            ("/text/100", "Accept-Encoding: gzip;q=0\r\n"), // refused explicitly
            ("/text/2", "Accept-Encoding: gzip\r\n"),   // too small to be worth it
            ("/png", "Accept-Encoding: gzip\r\n"),      // already compressed media
        ]
        for (path, header) in cases {
            try client.send("GET \(path) HTTP/1.1\r\nHost: t\r\n\(header)\r\n")
            let plain = try XCTUnwrap(client.readResponse())
            XCTAssertNil(plain.header("content-encoding"), "\(path) \(header)")
        }
        let viaCurl = try runCommand(curl, ["-sS", "--compressed", "\(server.url)/text/100"])
        XCTAssertEqual(viaCurl.output, expected)
    }

    private func serverOn(_ host: String) throws -> TestServer {
        var configuration = HTTPServerConfiguration()
        configuration.host = host
        do {
            return try TestServer(configuration: configuration, router: makeTestRouter())
        } catch {
            throw XCTSkip("no IPv6 here: \(error)")
        }
    }

    func testIPv6Loopback() throws {
        let server6 = try serverOn("::1")
        defer { server6.stop() }
        let client = try RawClient(port: server6.port, host: "::1")
        try client.send("GET /hello HTTP/1.1\r\nHost: [::1]\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.text, "hello")
    }

    func testDualStackWildcardAcceptsIPv4() throws {
        let server6 = try serverOn("::")
        defer { server6.stop() }
        let client = try RawClient(port: server6.port, host: "127.0.0.1")
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.text, "hello")
    }
}
