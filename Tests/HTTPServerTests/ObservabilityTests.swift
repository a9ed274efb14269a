import Foundation
import HTTPServer
import Logging
import TestSupport
import XCTest

/// Collects log messages so that tests can read the access log.
final class CapturingLogHandler: LogHandler, @unchecked Sendable {
    final class Store: @unchecked Sendable {
        private let lock = NSLock()
        private var messages: [String] = []

        func append(_ message: String) {
            lock.lock()
            messages.append(message)
            lock.unlock()
        }

        var all: [String] {
            lock.lock()
            defer { lock.unlock() }
            return messages
        }
    }

    let store: Store
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    init(store: Store) {
        self.store = store
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        store.append("\(event.level) \(event.message)")
    }
}

final class ObservabilityTests: XCTestCase {
    func testAccessLogAndMetrics() throws {
        let store = CapturingLogHandler.Store()
        let logger = Logger(label: "http.test") { _ in CapturingLogHandler(store: store) }
        let metrics = HTTPMetrics()
        let server = try TestServer(router: makeTestRouter(), logger: logger, observer: metrics)
        let client = try RawClient(port: server.port)
        for target in ["/hello", "/hello", "/items/4", "/missing"] {
            try client.send("GET \(target) HTTP/1.1\r\nHost: t\r\n\r\n")
            XCTAssertNotNil(client.readResponse())
        }
        server.stop()

        let accessLines = store.all.filter { $0.hasPrefix("info GET ") }
        XCTAssertEqual(accessLines.count, 4)
        XCTAssertTrue(accessLines[0].hasPrefix("info GET /hello 200 5B "), accessLines[0])
        XCTAssertTrue(accessLines[0].hasSuffix("ms"))
        XCTAssertTrue(accessLines[3].hasPrefix("info GET /missing 404 "))

        XCTAssertEqual(metrics.requestCount(route: "/hello", status: 200), 2)
        XCTAssertEqual(metrics.requestCount(route: "/items/:id"), 1)
        XCTAssertEqual(metrics.requestCount(status: 404), 1)
        let text = metrics.prometheusText()
        XCTAssertTrue(text.contains(#"http_requests_total{method="GET",route="/hello",status="200"} 2"#), text)
        XCTAssertTrue(text.contains(#"http_request_duration_seconds_bucket{route="/hello",le="+Inf"} 2"#), text)
        XCTAssertTrue(text.contains(#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#), text)
        XCTAssertTrue(text.contains("http_connections_total 1"), text)
        XCTAssertTrue(text.contains("http_connections_open 0"), text)
    }

    func testBenchmarkWithWrk() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/wrk") else { throw XCTSkip("wrk is not installed") }
        // SALIENT_HTTP_BENCH=full runs the reported measurement: 64 connections, 2 threads, 5 s.
        let full = ProcessInfo.processInfo.environment["SALIENT_HTTP_BENCH"] == "full"
        let result = full ? try HTTPBenchmark.run(connections: 64, threads: 2, seconds: 5)
                          : try HTTPBenchmark.run(connections: 16, threads: 1, seconds: 1)
        print("HTTPBenchmark: \(result)")
        XCTAssertGreaterThan(result.requests, 100)
        XCTAssertGreaterThan(result.requestsPerSecond, 100)
        XCTAssertEqual(result.errors, 0)
        XCTAssertGreaterThan(result.latencyP99Milliseconds, 0)
    }

    func testParsesWrkReport() throws {
        let report = """
        Running 5s test @ http://127.0.0.1:8080/bench
          2 threads and 64 connections
          Thread Stats   Avg      Stdev     Max   +/- Stdev
            Latency   654.32us  200.00us   5.00ms   90.00%
          Latency Distribution
             50%  600.00us
             75%  700.00us
             90%  800.00us
             99%    1.50ms
          490000 requests in 5.00s, 40.00MB read
          Socket errors: connect 0, read 2, write 0, timeout 1
          Non-2xx or 3xx responses: 4
        Requests/sec:  98000.50
        Transfer/sec:      8.00MB
        """
        let result = try XCTUnwrap(HTTPBenchmark.parse(report))
        XCTAssertEqual(result.requests, 490_000)
        XCTAssertEqual(result.requestsPerSecond, 98000.5)
        XCTAssertEqual(result.latencyP50Milliseconds, 0.6, accuracy: 1e-9)
        XCTAssertEqual(result.latencyP99Milliseconds, 1.5, accuracy: 1e-9)
        XCTAssertEqual(result.errors, 7)
        XCTAssertNil(HTTPBenchmark.parse("wrk: connection refused"))
    }
}
