import Foundation
import HTTPServer
import TestSupport
import XCTest

/// Slowloris, idle keep-alive, and the connection limit.
final class TimeoutTests: XCTestCase {
    func testSlowHeaderSenderGets408AndIsClosed() throws {
        var configuration = HTTPServerConfiguration()
        configuration.headerReadTimeout = 0.5
        let server = try TestServer(configuration: configuration, router: makeTestRouter())
        defer { server.stop() }
        let client = try RawClient(port: server.port)
        let started = Date()
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n")
        // Trickling a header every 200 ms must not extend the deadline.
        for index in 0..<4 {
            usleep(200_000)
            try? client.send("X-\(index): v\r\n")
        }
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(response.status, 408)
        XCTAssertEqual(response.errorCode, "request_timeout")
        XCTAssertTrue(client.isClosedByPeer())
        XCTAssertLessThan(Date().timeIntervalSince(started), 4)
    }

    func testSilentConnectionIsClosedAfterHeaderTimeout() throws {
        var configuration = HTTPServerConfiguration()
        configuration.headerReadTimeout = 0.3
        let server = try TestServer(configuration: configuration, router: makeTestRouter())
        defer { server.stop() }
        let client = try RawClient(port: server.port)
        let started = Date()
        XCTAssertTrue(client.isClosedByPeer())
        XCTAssertLessThan(Date().timeIntervalSince(started), 4)
    }

    func testIdleKeepAliveConnectionIsClosed() throws {
        var configuration = HTTPServerConfiguration()
        configuration.idleTimeout = 0.4
        configuration.headerReadTimeout = 5
        let server = try TestServer(configuration: configuration, router: makeTestRouter())
        defer { server.stop() }
        let client = try RawClient(port: server.port)
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 200)
        let started = Date()
        XCTAssertTrue(client.isClosedByPeer())
        let waited = Date().timeIntervalSince(started)
        XCTAssertGreaterThan(waited, 0.3)
        XCTAssertLessThan(waited, 4)
    }

    func testClientThatStopsReadingIsDropped() throws {
        var configuration = HTTPServerConfiguration()
        configuration.idleTimeout = 0.5
        let server = try TestServer(configuration: configuration, router: makeTestRouter())
        defer { server.stop() }
        let client = try RawClient(port: server.port)
        var receiveBuffer: Int32 = 4096
        setsockopt(client.fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, socklen_t(MemoryLayout<Int32>.size))
        try client.send("GET /text/200000 HTTP/1.1\r\nHost: t\r\n\r\n")
        waitUntil("the stalled connection to be dropped") { server.server.connectionCount == 0 }
    }

    func testConnectionsBeyondTheLimitGet503() throws {
        var configuration = HTTPServerConfiguration()
        configuration.maxConnections = 2
        let server = try TestServer(configuration: configuration, router: makeTestRouter())
        defer { server.stop() }
        let first = try RawClient(port: server.port)
        let second = try RawClient(port: server.port)
        for client in [first, second] {
            try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
            XCTAssertEqual(client.readResponse()?.status, 200)
        }
        let third = try RawClient(port: server.port)
        let refused = try XCTUnwrap(third.readResponse())
        XCTAssertEqual(refused.status, 503)
        XCTAssertEqual(refused.errorCode, "too_many_connections")
        XCTAssertTrue(refused.text.contains("2 connections (maxConnections)"), refused.text)
        XCTAssertTrue(third.isClosedByPeer())
        // A slot frees up when a client leaves.
        first.shutdownWrite()
        XCTAssertTrue(first.isClosedByPeer())
        waitUntil("the server to let the first client go") { server.server.connectionCount == 1 }
        let fourth = try RawClient(port: server.port)
        try fourth.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(fourth.readResponse()?.status, 200)
    }

    func testStopAcceptingPolicyQueuesConnectionsInTheBacklog() throws {
        var configuration = HTTPServerConfiguration()
        configuration.maxConnections = 1
        configuration.overloadPolicy = .stopAccepting
        let server = try TestServer(configuration: configuration, router: makeTestRouter())
        defer { server.stop() }
        let first = try RawClient(port: server.port)
        try first.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(first.readResponse()?.status, 200)
        let waiting = try RawClient(port: server.port, timeout: 0.5)
        try waiting.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertNil(waiting.readResponse(), "served while the limit was reached")
        first.shutdownWrite()
        XCTAssertTrue(first.isClosedByPeer())
        // The freed slot goes to the connection that waited in the backlog.
        var response: RawResponse?
        for _ in 0..<10 where response == nil {
            response = waiting.readResponse()
        }
        XCTAssertEqual(response?.status, 200)
    }
}
