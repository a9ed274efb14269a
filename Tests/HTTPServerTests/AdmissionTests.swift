#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HTTPServer
import HTTPTypes
import TestSupport
import XCTest

/// What is decided on a request's head before its body is read: admission (a token), the host,
/// a full queue, the bytes of bodies in memory; and the fields every response carries.
final class AdmissionTests: XCTestCase {
    private func guardedRouter(handled: Counter) -> Router {
        let router = Router()
        router.add(.post, "/guarded", bodyLimit: 512 * 1024 * 1024, admission: { request in
            XCTAssertTrue(request.body.isEmpty, "admission sees the head alone")
            guard request.headerFields[.authorization] == "Bearer right" else {
                throw HTTPError(.unauthorized, code: "unauthorized", message: "needs the token")
            }
        }) { request in
            handled.increment()
            return .text("\(request.body.count)")
        }
        return router
    }

    func testARefusedHeadGetsNoContinueAndItsBodyIsNeverRead() throws {
        let handled = Counter()
        let server = try TestServer(router: guardedRouter(handled: handled), listening: false)
        defer { server.stop() }
        let size = 200 * 1024 * 1024

        // A client that waits for 100 Continue gets the refusal instead, and sends nothing.
        let waiting = try server.client()
        try waiting.send("POST /guarded HTTP/1.1\r\nHost: t\r\nContent-Length: \(size)\r\nExpect: 100-continue\r\n\r\n")
        let refused = try XCTUnwrap(waiting.readResponse())
        XCTAssertEqual(refused.status, 401, "no 100 Continue before the refusal")
        XCTAssertEqual(refused.errorCode, "unauthorized")
        XCTAssertEqual(refused.header("connection"), "close")
        XCTAssertEqual(server.server.bufferedBodyBytes, 0)

        // A client that sends its body at once is answered long before it has sent all of it, and
        // nothing it sends is kept. How much it gets out first is the two sockets' buffers (a few
        // MB each on loopback) plus what it sends before this test's reading thread runs: 29 MB
        // once on two busy cores. A server that read the body before refusing would take all 200.
        let eager = try server.client(timeout: 10)
        try eager.send("POST /guarded HTTP/1.1\r\nHost: t\r\nContent-Length: \(size)\r\n\r\n")
        let piece = [UInt8](repeating: 0x41, count: 1024 * 1024)
        var sent = 0
        let answered = DispatchGroup()
        let eagerResponse = Box<RawResponse?>(nil)
        answered.enter()
        DispatchQueue.global().async {
            eagerResponse.value = eager.readResponse()
            answered.leave()
        }
        while sent < size, answered.wait(timeout: .now()) == .timedOut {
            guard (try? eager.send(piece)) != nil else { break }
            sent += piece.count
            XCTAssertEqual(server.server.bufferedBodyBytes, 0)
        }
        XCTAssertEqual(answered.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(eagerResponse.value?.status, 401)
        XCTAssertLessThan(sent, size / 2, "the refusal came while the body was still being sent")
        XCTAssertEqual(handled.value, 0)

        // With the token the same request is invited and handled.
        let admitted = try server.client()
        try admitted.send("POST /guarded HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer right\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        XCTAssertEqual(admitted.readResponse()?.status, 100)
        try admitted.send("hello")
        XCTAssertEqual(admitted.readResponse()?.text, "5")
        XCTAssertEqual(handled.value, 1)
    }

    func testAFullQueueAnswers503WithRetryAfterAndCountsIt() throws {
        let gate = Gate()
        let router = Router()
        router.add(.get, "/work/:name", queue: "work") { request in
            gate.pass(try request.parameter("name"))
            return .text("done")
        }
        router.add(.get, "/other/:name", queue: "other") { request in
            gate.pass(try request.parameter("name"))
            return .text("done")
        }
        var configuration = HTTPServerConfiguration()
        configuration.handlerConcurrency = 1
        configuration.queueLimits = ["work": QueueLimit(maxQueued: 2, setting: "max_queued_work"),
                                     "other": QueueLimit(maxQueued: 1, setting: "max_queued_other")]
        configuration.retryAfterSeconds = 3
        let metrics = HTTPMetrics()
        let server = try TestServer(configuration: configuration, router: router, observer: metrics, listening: false)
        defer { server.stop() }

        let running = try server.client(timeout: 20)
        try running.send("GET /work/a HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertTrue(gate.waitForStarted(1))
        var queued: [RawClient] = []
        for (index, name) in ["b", "c"].enumerated() {
            let client = try server.client(timeout: 20)
            try client.send("GET /work/\(name) HTTP/1.1\r\nHost: t\r\n\r\n")
            queued.append(client)
            // Connections are read on several queues: b must be queued before c is sent.
            waitUntil("\(name) to be queued") { server.server.queuedRequests["work"] == index + 1 }
        }
        let other = try server.client(timeout: 20)
        try other.send("GET /other/x HTTP/1.1\r\nHost: t\r\n\r\n")
        waitUntil("three queued requests") { server.server.queuedRequests == ["work": 2, "other": 1] }

        // The flood beyond the limit.
        for _ in 0..<5 {
            let client = try server.client()
            try client.send("GET /work/flood HTTP/1.1\r\nHost: t\r\n\r\n")
            let response = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(response.status, 503)
            XCTAssertEqual(response.header("retry-after"), "3")
            XCTAssertEqual(response.errorCode, "queue_full")
            XCTAssertTrue(response.text.contains("max_queued_work"), response.text)
        }
        let otherFlood = try server.client()
        try otherFlood.send("GET /other/y HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertTrue(otherFlood.readResponse()?.text.contains("max_queued_other") == true)
        XCTAssertEqual(metrics.shedCount(queue: "work"), 5)
        XCTAssertEqual(metrics.shedCount(queue: "other"), 1)
        XCTAssertTrue(metrics.prometheusText().contains(#"http_requests_shed_total{queue="work",reason="queue_full"} 5"#))

        gate.release()
        for client in [running] + queued + [other] {
            XCTAssertEqual(client.readResponse()?.text, "done")
        }
        // A freed handler goes to the classes in turn: "other" did not wait for both of "work".
        XCTAssertEqual(gate.startedNames, ["a", "b", "x", "c"])
        XCTAssertEqual(server.server.queuedRequests.values.reduce(0, +), 0)
        XCTAssertEqual(try running.get("/work/z")?.status, 200, "the queue takes requests again")
    }

    func testBodiesInMemoryAreBoundedAcrossConnections() throws {
        let gate = Gate()
        let router = Router()
        router.post("/hold") { request in
            gate.pass("\(request.body.count)")
            return .text("\(request.body.count)")
        }
        var configuration = HTTPServerConfiguration()
        configuration.maxBodyBytes = 1_000_000
        configuration.maxBufferedBodyBytes = 1_500_000
        configuration.maxBufferedBodyBytesSetting = "max_buffered_body_bytes"
        let metrics = HTTPMetrics()
        let server = try TestServer(configuration: configuration, router: router, observer: metrics, listening: false)
        defer { server.stop() }
        let body = [UInt8](repeating: 0x42, count: 900_000)

        // Announcing a body holds nothing: only bytes that arrived count.
        let announcer = try server.client(timeout: 20)
        try announcer.send("POST /hold HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n\r\n")
        try announcer.send(Array(body.prefix(1000)))
        // Counted before the holder connects: were the holder's head read first, the announcer's
        // declared length would no longer fit and be refused on its head (a CI run saw it).
        waitUntil("the announcer's first bytes to be counted") { server.server.bufferedBodyBytes == 1000 }

        let holder = try server.client(timeout: 20)
        try holder.send("POST /hold HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n\r\n")
        try holder.send(body)
        XCTAssertTrue(gate.waitForStarted(1))
        waitUntil("the holder's body to be counted beside them") { server.server.bufferedBodyBytes == body.count + 1000 }

        // A declared length that does not fit is refused on its head.
        let declared = try server.client()
        try declared.send("POST /hold HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\nExpect: 100-continue\r\n\r\n")
        let refused = try XCTUnwrap(declared.readResponse())
        XCTAssertEqual(refused.status, 503, "no 100 Continue for a body that cannot be held")
        XCTAssertEqual(refused.errorCode, "body_budget_full")
        XCTAssertEqual(refused.header("retry-after"), "1")
        XCTAssertTrue(refused.text.contains("max_buffered_body_bytes"), refused.text)

        // A chunked body is counted as it arrives and refused once it no longer fits.
        let chunked = try server.client(timeout: 10)
        try chunked.send("POST /hold HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in 0..<10 {
            guard (try? chunked.send("10000\r\n" + String(repeating: "c", count: 0x10000) + "\r\n")) != nil else { break }
        }
        let response = chunked.readResponse()
        XCTAssertEqual(response?.status, 503)
        XCTAssertEqual(response?.errorCode, "body_budget_full")
        XCTAssertEqual(metrics.shedCount(), 2)
        XCTAssertEqual(server.server.bufferedBodyBytes, body.count + 1000, "the refused bodies gave their share back")
        announcer.shutdownWrite()
        waitUntil("the announcer's bytes to be given back") { server.server.bufferedBodyBytes == body.count }

        gate.release()
        XCTAssertEqual(holder.readResponse()?.text, "\(body.count)")
        waitUntil("the handled body to give its share back") { server.server.bufferedBodyBytes == 0 }
        let after = try server.client()
        try after.send("POST /hold HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n\r\n")
        try after.send(body)
        XCTAssertEqual(after.readResponse()?.text, "\(body.count)")
    }

    func testHostsTheServerDoesNotServeGet421() throws {
        var configuration = HTTPServerConfiguration()
        configuration.hostPolicy = HostPolicy(names: ["salient.test"])
        let server = try TestServer(configuration: configuration, router: makeTestRouter(), listening: false)
        defer { server.stop() }
        for (request, status) in [
            ("GET /hello HTTP/1.1\r\nHost: localhost:8080\r\n\r\n", 200),
            ("GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 200),
            ("GET /hello HTTP/1.1\r\nHost: salient.test\r\n\r\n", 200),
            ("GET /hello HTTP/1.0\r\n\r\n", 200),
            ("GET /hello HTTP/1.1\r\nHost: rebound.evil.com:8080\r\n\r\n", 421),
            // An absolute-form target names the host in place of the Host field.
            ("GET http://rebound.evil.com/hello HTTP/1.1\r\nHost: localhost\r\n\r\n", 421),
            ("POST /echo HTTP/1.1\r\nHost: evil.com\r\nContent-Length: 3\r\n\r\nabc", 421),
        ] {
            let client = try server.client()
            try client.send(request)
            let response = try XCTUnwrap(client.readResponse(), request)
            XCTAssertEqual(response.status, status, request)
            if status == 421 { XCTAssertEqual(response.errorCode, "host_not_allowed") }
        }
    }

    func testEveryResponseCarriesTheDefaultFieldsUnlessItSetsThem() throws {
        var configuration = HTTPServerConfiguration()
        configuration.defaultResponseFields = [.xContentTypeOptions: "nosniff", .contentSecurityPolicy: "default-src 'none'"]
        let router = makeTestRouter()
        router.get("/own-policy") { _ in
            HTTPServerResponse(status: .ok, headerFields: [.contentSecurityPolicy: "default-src 'self'"])
        }
        let server = try TestServer(configuration: configuration, router: router, listening: false)
        defer { server.stop() }
        let client = try server.client()
        for target in ["/hello", "/nowhere", "/fail", "/crash"] {
            let response = try XCTUnwrap(client.get(target))
            XCTAssertEqual(response.header("x-content-type-options"), "nosniff", target)
            XCTAssertEqual(response.header("content-security-policy"), "default-src 'none'", target)
        }
        XCTAssertEqual(try client.get("/own-policy")?.header("content-security-policy"), "default-src 'self'")
        let malformed = try server.client()
        try malformed.send("GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        XCTAssertEqual(malformed.readResponse()?.header("x-content-type-options"), "nosniff")
    }
}

/// A value handed from one thread to another after a wait that orders the two.
final class Box<Value>: @unchecked Sendable {
    var value: Value

    init(_ value: Value) { self.value = value }
}

/// A thread-safe count.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
