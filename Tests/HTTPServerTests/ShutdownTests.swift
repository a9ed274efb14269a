#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HTTPServer
import XCTest

/// Graceful shutdown: stop accepting, finish in-flight work, then close.
final class ShutdownTests: XCTestCase {
    func testInFlightRequestFinishesAndNewConnectionsAreRefused() throws {
        let server = try TestServer(router: makeTestRouter())
        let idle = try RawClient(port: server.port)
        let busy = try RawClient(port: server.port)
        try busy.send("GET /slow/1500 HTTP/1.1\r\nHost: t\r\n\r\n")
        usleep(100_000)
        let stopped = Flag()
        DispatchQueue.global().async {
            server.server.shutdown(grace: 10)
            stopped.raise()
        }
        var refused = false
        for _ in 0..<100 where !refused {
            refused = (try? RawClient(port: server.port)) == nil
            if !refused { usleep(10_000) }
        }
        XCTAssertTrue(refused, "still accepting after shutdown began")
        XCTAssertTrue(idle.isClosedByPeer(), "an idle connection is closed at once")
        let response = try XCTUnwrap(busy.readResponse())
        XCTAssertEqual(response.text, "slow 1500")
        XCTAssertEqual(response.header("connection"), "close")
        XCTAssertTrue(stopped.wait(2))
        XCTAssertEqual(server.server.connectionCount, 0)
    }

    func testGraceExpiryClosesStragglers() throws {
        let server = try TestServer(router: makeTestRouter())
        let client = try RawClient(port: server.port)
        try client.send("GET /slow/3000 HTTP/1.1\r\nHost: t\r\n\r\n")
        usleep(100_000)
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
        var ready = false
        for _ in 0..<200 where !ready {
            var action = sigaction()
            sigaction(SIGTERM, nil, &action)
            ready = server.port != nil && action.__sigaction_handler.sa_handler != nil
            if !ready { usleep(10_000) }
        }
        XCTAssertTrue(ready)
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
        XCTAssertThrowsError(try RawClient(port: port))
    }
}
