import Foundation
import HTTPServer
import TestSupport
import XCTest

/// HTTP/1.1 semantics against a real listening server, over raw sockets.
final class ProtocolTests: XCTestCase {
    private var server: TestServer!

    override func setUpWithError() throws {
        server = try TestServer(router: makeTestRouter(), listening: false)
    }

    override func tearDown() {
        server.stop()
    }

    private func client() throws -> RawClient {
        try server.client()
    }

    func testKeepAliveReusesTheConnection() throws {
        let client = try client()
        for _ in 0..<3 {
            try client.send("GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
            let response = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.text, "hello")
            XCTAssertNil(response.header("connection"))
            let date = try XCTUnwrap(response.header("date"))
            XCTAssertNotNil(date.range(of: #"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$"#,
                                       options: .regularExpression), date)
        }
        XCTAssertEqual(server.server.connectionCount, 1)
    }

    func testPipelinedRequestsAreAnsweredInOrder() throws {
        let client = try client()
        try client.send("GET /slow/300 HTTP/1.1\r\nHost: t\r\n\r\nGET /slow/1 HTTP/1.1\r\nHost: t\r\n\r\n"
                        + "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabcGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.text, "slow 300")
        XCTAssertEqual(client.readResponse()?.text, "slow 1")
        XCTAssertEqual(client.readResponse()?.text, "abc")
        XCTAssertEqual(client.readResponse()?.text, "hello")
    }

    func testDeepPipelineIsThrottledButFullyAnswered() throws {
        let client = try client()
        let count = 500
        try client.send(String(repeating: "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", count: count - 1)
                        + "GET /items/last HTTP/1.1\r\nHost: t\r\n\r\n")
        var answered = 0
        while answered < count - 1, client.readResponse()?.text == "hello" {
            answered += 1
        }
        XCTAssertEqual(answered, count - 1)
        XCTAssertEqual(client.readResponse()?.text, "item last")
    }

    func testDeepPipelineOfServerAnsweredRequests() throws {
        // 404s are answered without a handler; answering them must not nest calls per request.
        let client = try client()
        let count = 20_000
        try client.send(String(repeating: "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n", count: count))
        var answered = 0
        while answered < count, client.readResponse()?.status == 404 {
            answered += 1
        }
        XCTAssertEqual(answered, count)
    }

    func testHTTP10ClosesUnlessAskedToKeepAlive() throws {
        let plain = try client()
        try plain.send("GET /hello HTTP/1.0\r\n\r\n")
        let first = try XCTUnwrap(plain.readResponse())
        XCTAssertEqual(first.status, 200)
        XCTAssertEqual(first.header("connection"), "close")
        XCTAssertTrue(plain.isClosedByPeer())

        let persistent = try client()
        try persistent.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(persistent.readResponse()?.header("connection"), "keep-alive")
        try persistent.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(persistent.readResponse()?.text, "hello")
    }

    func testConnectionCloseIsHonoured() throws {
        let client = try client()
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(response.header("connection"), "close")
        XCTAssertTrue(client.isClosedByPeer())
    }

    func testHandlerCanCloseTheConnection() throws {
        let client = try client()
        try client.send("GET /bye HTTP/1.1\r\nHost: t\r\n\r\n")
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(response.text, "bye")
        XCTAssertEqual(response.header("connection"), "close")
        XCTAssertTrue(client.isClosedByPeer())
    }

    func testValidHostForms() throws {
        let client = try client()
        for host in ["example.com:8080", "[::1]:80", "127.0.0.1", "xn--bcher-kva.example", ""] {
            try client.send("GET /hello HTTP/1.1\r\nHost: \(host)\r\n\r\n")
            XCTAssertEqual(client.readResponse()?.status, 200, host)
        }
    }

    func testChunkedBodyWithExtensionsAndTrailers() throws {
        let client = try client()
        try client.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "5;name=value\r\nhello\r\n1 ; quoted=\"a;b\"\r\n \r\n5\r\nworld\r\n0\r\nX-Checksum: 1\r\n\r\n")
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.text, "hello world")
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.text, "hello")
    }

    func testExpectContinueIsAnsweredBeforeTheBody() throws {
        let client = try client()
        try client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 100)
        try client.send("data")
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.text, "data")
    }

    func testExpectContinueWithOversizedBodyGets413WithoutContinue() throws {
        let client = try client()
        try client.send("POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n")
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(response.status, 413)
        XCTAssertEqual(response.errorCode, "payload_too_large")
    }

    func testHeadSendsHeadersWithoutBody() throws {
        let client = try client()
        try client.send("HEAD /text/10 HTTP/1.1\r\nHost: t\r\n\r\n")
        let head = try XCTUnwrap(client.readResponse(head: true))
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("content-length"), "450")
        // Had a body been sent, it would be read here as a malformed status line.
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.text, "hello")
    }

    func testOptionsListsAllowedMethods() throws {
        let client = try client()
        try client.send("OPTIONS /items/7 HTTP/1.1\r\nHost: t\r\n\r\n")
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(response.status, 204)
        XCTAssertEqual(response.header("allow"), "GET, DELETE, HEAD, OPTIONS")
        try client.send("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 204)
    }

    func testMethodNotAllowedCarriesAllowAndJSON() throws {
        let client = try client()
        try client.send("POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(response.status, 405)
        XCTAssertEqual(response.header("allow"), "GET, HEAD, OPTIONS")
        XCTAssertEqual(response.header("content-type"), "application/json")
        XCTAssertEqual(response.errorCode, "method_not_allowed")
    }

    func testNotFoundIsJSON() throws {
        let client = try client()
        try client.send("GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n")
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(response.status, 404)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: response.body) as? [String: [String: String]])
        XCTAssertEqual(object["error"]?["code"], "not_found")
        XCTAssertNotNil(object["error"]?["message"])
    }

    func testHandlerErrorsMapToStatusAndJSON() throws {
        let client = try client()
        try client.send("GET /fail HTTP/1.1\r\nHost: t\r\n\r\n")
        let failure = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(failure.status, 409)
        XCTAssertEqual(failure.text, #"{"error":{"code":"busy","message":"Try later"}}"#)
        try client.send("GET /crash HTTP/1.1\r\nHost: t\r\n\r\n")
        let crash = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(crash.status, 500)
        XCTAssertTrue(crash.body.isEmpty, crash.text)
    }

    func testPathParametersAndQueryAreDecoded() throws {
        let client = try client()
        try client.send("GET /items/a%20b HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.text, "item a b")
        try client.send("GET /query?x=1&name=J%C3%BCrgen+K HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.text, "x=1,name=Jürgen K")
        try client.send("GET http://t/items/9 HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.text, "item 9")
        try client.send("GET /items/%zz HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 400)
    }

    func testJSONBodiesDecodeOrAnswer400() throws {
        struct Job: Decodable {
            let epochs: Int
        }
        let router = Router()
        router.post("/jobs") { request in .text("epochs \(try request.decode(Job.self).epochs)") }
        let jsonServer = try TestServer(router: router, listening: false)
        defer { jsonServer.stop() }
        let client = try jsonServer.client()
        try client.send("POST /jobs HTTP/1.1\r\nHost: t\r\nContent-Length: 13\r\n\r\n{\"epochs\": 3}")
        XCTAssertEqual(client.readResponse()?.text, "epochs 3")
        try client.send("POST /jobs HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\n{\"epochs\"")
        let failure = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(failure.status, 400)
        XCTAssertEqual(failure.errorCode, "invalid_json")
    }

    func testAsyncHandlers() throws {
        let router = Router()
        router.add(.get, "/later/:ms", async: { request in
            try await Task.sleep(nanoseconds: UInt64(Int(try request.parameter("ms")) ?? 0) * 1_000_000)
            return .text("done")
        })
        router.add(.get, "/refuse", async: { _ in throw HTTPError(.forbidden, code: "nope", message: "No.") })
        let asyncServer = try TestServer(router: router, listening: false)
        defer { asyncServer.stop() }
        let client = try asyncServer.client()
        try client.send("GET /later/50 HTTP/1.1\r\nHost: t\r\n\r\nGET /refuse HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.text, "done")
        XCTAssertEqual(client.readResponse()?.errorCode, "nope")
    }

    func testQuickRoutesDoNotWaitBehindSlowHandlers() throws {
        var configuration = HTTPServerConfiguration()
        configuration.handlerConcurrency = 1
        let gate = Gate()
        defer { gate.release() }
        let router = makeTestRouter(gate: gate)
        router.get("/healthz", lane: .quick) { _ in .text("ok") }
        let laneServer = try TestServer(configuration: configuration, router: router, listening: false)
        defer { laneServer.stop() }
        let slow = try laneServer.client()
        try slow.send("GET /gate/slow HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertTrue(gate.waitForStarted(1))
        // The standard pool's one thread is held by the gate, so an answer means the quick lane.
        XCTAssertEqual(try laneServer.client().get("/healthz")?.text, "ok", "the quick route waited for the busy pool")
        // The standard pool is bounded: a second standard request waits for the first.
        let queued = try laneServer.client(timeout: 0.5)
        try queued.send("GET /gate/queued HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertNil(queued.readResponse(), "a second handler ran beside the first")
        XCTAssertEqual(gate.startedNames, ["slow"])
        gate.release()
        XCTAssertEqual(slow.readResponse()?.text, "passed slow")
        XCTAssertTrue(gate.waitForStarted(2))
    }

    func testHandlersThatBlockRunAtOnceUpToTheConcurrency() throws {
        // More blocked handlers than cores: each must get a thread of its own.
        let width = 4 * max(2, ProcessInfo.processInfo.activeProcessorCount)
        var configuration = HTTPServerConfiguration()
        configuration.handlerConcurrency = width
        let gate = Gate()
        defer { gate.release() }
        let router = makeTestRouter(gate: gate)
        router.get("/healthz", lane: .quick) { _ in .text("ok") }
        let laneServer = try TestServer(configuration: configuration, router: router, listening: false)
        defer { laneServer.stop() }
        let clients = try (0..<width).map { _ in try laneServer.client() }
        for (index, client) in clients.enumerated() { try client.send("GET /gate/\(index) HTTP/1.1\r\nHost: t\r\n\r\n") }
        // Every handler is blocked in the gate at once: none waits for another to finish.
        XCTAssertTrue(gate.waitForStarted(width), "blocked handlers ran a few at a time: \(gate.startedNames.count) of \(width)")
        XCTAssertEqual(try laneServer.client().get("/healthz")?.text, "ok", "the quick route waited for threads")
        gate.release()
        for (index, client) in clients.enumerated() { XCTAssertEqual(client.readResponse()?.text, "passed \(index)") }
    }

    func testStrayEmptyLinesBetweenRequestsAreIgnored() throws {
        let client = try client()
        try client.send("\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.text, "hello")
    }

    func testHalfClosedClientStillGetsItsResponses() throws {
        let client = try client()
        try client.send("GET /slow/100 HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        client.shutdownWrite()
        XCTAssertEqual(client.readResponse()?.text, "slow 100")
        XCTAssertEqual(client.readResponse()?.text, "hello")
        XCTAssertTrue(client.isClosedByPeer())
    }
}
