#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HTTPServer
import TestSupport
import XCTest

/// Graceful shutdown: stop accepting, finish in-flight work, then close.
final class ShutdownTests: XCTestCase {
    func testInFlightRequestFinishesAndNewConnectionsAreRefused() throws {
        let gate = Gate()
        defer { gate.release() }
        let server = try TestServer(router: makeTestRouter(gate: gate))
        let idle = try RawClient(port: server.port)
        let busy = try RawClient(port: server.port)
        try busy.send("GET /gate/busy HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertTrue(gate.waitForStarted(1))
        let stopped = Flag()
        DispatchQueue.global().async {
            server.server.shutdown(grace: 10)
            stopped.raise()
        }
        waitUntil("the listener to close") { (try? RawClient(port: server.port)) == nil }
        XCTAssertTrue(idle.isClosedByPeer(), "an idle connection is closed at once")
        XCTAssertFalse(stopped.wait(0), "shutdown returned with a request in flight")
        // The request in flight finishes after the listener closed, within the grace.
        gate.release()
        let response = try XCTUnwrap(busy.readResponse())
        XCTAssertEqual(response.text, "passed busy")
        XCTAssertEqual(response.header("connection"), "close")
        XCTAssertTrue(stopped.wait(5))
        XCTAssertEqual(server.server.connectionCount, 0)
    }

    func testGraceExpiryClosesStragglers() throws {
        let gate = Gate()
        defer { gate.release() }
        let server = try TestServer(router: makeTestRouter(gate: gate))
        let client = try RawClient(port: server.port)
        try client.send("GET /gate/straggler HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertTrue(gate.waitForStarted(1))
        let started = Date()
        server.server.shutdown(grace: 0.3)
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
        XCTAssertNil(client.readResponse())
    }

    func testRunReturnsAfterSIGTERM() throws {
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.shutdownGrace = 1
        let server = HTTPServer(configuration: configuration, router: makeTestRouter(), logger: quietLogger)
        let returned = Flag()
        Thread.detachNewThread {
            try? server.run()
            returned.raise()
        }
        // Only signal once run() has taken SIGTERM away from its default action
        // (SIG_DFL, 0), which would end the test process.
        waitUntil("run() to take SIGTERM") {
            var action = sigaction()
            sigaction(SIGTERM, nil, &action)
            return server.port != nil && action.__sigaction_handler.sa_handler != nil
        }
        let port = try XCTUnwrap(server.port)
        let client = try RawClient(port: port)
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 200)
        var stopped = false
        // The signal source is installed just after the disposition changes; repeat until it is seen.
        for _ in 0..<30 where !stopped {
            kill(getpid(), SIGTERM)
            stopped = returned.wait(0.1)
        }
        XCTAssertTrue(stopped, "run() did not return after SIGTERM")
        // The listening socket closes in its Dispatch source's cancel handler, just after stop().
        waitUntil("the listener to close") { (try? RawClient(port: port)) == nil }
    }
}
