import Foundation
import HTTPServer
import HTTPTypes
import TestSupport
import XCTest

/// Responses produced over time: chunked streams, Server-Sent Events, and
/// noticing that the client left.
final class StreamingTests: XCTestCase {
    private var server: TestServer!
    private let disconnected = Flag()

    override func setUpWithError() throws {
        let router = makeTestRouter()
        router.get("/events") { _ in
            .serverSentEvents { writer in
                for index in 1...3 {
                    usleep(50_000)
                    writer.send(ServerSentEvent(event: "progress", data: "{\"epoch\":\(index)}", id: "\(index)"))
                }
                writer.finish()
            }
        }
        let flag = disconnected
        router.get("/forever") { _ in
            .stream(headerFields: [.contentType: "text/plain"]) { writer in
                writer.onClose { flag.raise() }
                while writer.write("tick\n") {
                    usleep(20_000)
                }
            }
        }
        router.get("/pieces") { _ in
            .stream { writer in
                for piece in ["alpha ", "beta ", "gamma"] {
                    writer.write(piece)
                    usleep(20_000)
                }
                writer.finish()
            }
        }
        router.get("/bulk") { _ in
            .stream { writer in
                // 32 MiB produced far faster than a socket drains: writes must wait, not fail.
                let block = Data(repeating: UInt8(ascii: "z"), count: 256 * 1024)
                for _ in 0..<128 {
                    guard writer.write(block) else { return }
                }
                writer.finish()
            }
        }
        router.get("/sized/:declared/:written") { request in
            let written = Int(try request.parameter("written")) ?? 0
            return .stream(length: Int(try request.parameter("declared")) ?? 0) { writer in
                writer.write(String(repeating: "s", count: written))
                writer.finish()
            }
        }
        server = try TestServer(router: router)
    }

    override func tearDown() {
        server.stop()
    }

    func testChunkedStreamThenKeepAlive() throws {
        let client = try RawClient(port: server.port)
        try client.send("GET /pieces HTTP/1.1\r\nHost: t\r\n\r\n")
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(response.header("transfer-encoding"), "chunked")
        XCTAssertEqual(response.text, "alpha beta gamma")
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.text, "hello")
    }

    func testLargeStreamIsPacedByTheClient() throws {
        let result = try runCommand(curl, ["-sS", "--limit-rate", "64M", "-o", "/dev/null", "-w", "%{size_download}",
                                           "\(server.url)/bulk"])
        XCTAssertEqual(result.status, 0, result.errors)
        XCTAssertEqual(result.output, "\(32 * 1024 * 1024)")
    }

    func testSizedStreamKeepsItsPromiseOrCloses() throws {
        let exact = try XCTUnwrap(try RawClient(port: server.port).get("/sized/5/5"))
        XCTAssertEqual(exact.header("content-length"), "5")
        XCTAssertEqual(exact.text, "sssss")
        for (declared, written) in [(5, 3), (5, 8)] {
            XCTAssertNil(try RawClient(port: server.port).get("/sized/\(declared)/\(written)"),
                         "a body of \(written) bytes passed for \(declared)")
        }
    }

    func testStreamToHTTP10ClientIsDelimitedByClose() throws {
        let client = try RawClient(port: server.port)
        try client.send("GET /pieces HTTP/1.0\r\n\r\n")
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertNil(response.header("transfer-encoding"))
        XCTAssertEqual(response.header("connection"), "close")
        XCTAssertEqual(response.text, "alpha beta gamma")
    }

    func testServerSentEventsWithCurl() throws {
        let result = try runCommand(curl, ["-sS", "-N", "\(server.url)/events"])
        XCTAssertEqual(result.status, 0)
        let expected = (1...3).map { "id: \($0)\nevent: progress\ndata: {\"epoch\":\($0)}\n\n" }.joined()
        XCTAssertEqual(result.output, expected)
    }

    func testProducerNoticesClientDisconnect() throws {
        let client = try RawClient(port: server.port)
        try client.send("GET /forever HTTP/1.1\r\nHost: t\r\n\r\n")
        var byte: UInt8 = 0
        XCTAssertEqual(recv(client.fd, &byte, 1, 0), 1, "the stream started")
        XCTAssertFalse(disconnected.wait(0.1), "closed while the client was still there")
        shutdown(client.fd, Int32(SHUT_RDWR))
        XCTAssertTrue(disconnected.wait(3), "the producer was not told that the client left")
    }

    func testShutdownEndsOpenStreamsCleanly() throws {
        let client = try RawClient(port: server.port)
        try client.send("GET /forever HTTP/1.1\r\nHost: t\r\n\r\n")
        var byte: UInt8 = 0
        XCTAssertEqual(recv(client.fd, &byte, 1, 0), 1)
        let started = Date()
        server.stop()
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.5)
        XCTAssertTrue(disconnected.wait(1))
    }
}
