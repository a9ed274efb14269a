import Foundation
import Logging

/// Measures the server on a trivial route with wrk, against 127.0.0.1 only.
public enum HTTPBenchmark {
    public struct Result: Sendable, CustomStringConvertible {
        public var requests: Int
        public var requestsPerSecond: Double
        public var latencyP50Milliseconds: Double
        public var latencyP99Milliseconds: Double
        /// Socket errors plus non-2xx/3xx responses reported by wrk.
        public var errors: Int
        public var connections: Int
        public var duration: Int

        public var description: String {
            String(format: "%d connections, %ds: %.0f requests/s, p50 %.2f ms, p99 %.2f ms, %d requests, %d errors",
                   connections, duration, requestsPerSecond, latencyP50Milliseconds, latencyP99Milliseconds, requests, errors)
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case wrkFailed(String)

        public var description: String {
            switch self {
            case .wrkFailed(let output): return "wrk failed or printed no result: \(output)"
            }
        }
    }

    /// Starts a server on an ephemeral port with one route answering "ok", runs
    /// `wrk -t<threads> -c<connections> -d<seconds>s --latency` against it, and stops it.
    public static func run(connections: Int = 64, threads: Int = 2, seconds: Int = 5,
                           wrk: String = "/usr/bin/wrk") throws -> Result {
        let router = Router()
        router.get("/bench") { _ in .text("ok") }
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.maxConnections = max(1024, connections * 2)
        var logger = Logger(label: "http.bench")
        logger.logLevel = .warning
        let server = HTTPServer(configuration: configuration, router: router, logger: logger)
        try server.start()
        defer { server.shutdown(grace: 1) }
        let url = "http://127.0.0.1:\(server.port ?? 0)/bench"
        let output = try runProcess(wrk, ["-t\(threads)", "-c\(connections)", "-d\(seconds)s", "--latency", url]).output
        guard var result = parse(output) else { throw Failure.wrkFailed(output) }
        result.connections = connections
        result.duration = seconds
        return result
    }

    /// Reads wrk's report; nil when it has no requests/s line.
    public static func parse(_ output: String) -> Result? {
        var result = Result(requests: 0, requestsPerSecond: 0, latencyP50Milliseconds: 0, latencyP99Milliseconds: 0,
                            errors: 0, connections: 0, duration: 0)
        var sawRate = false
        for line in output.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" })
            guard let first = words.first else { continue }
            switch first {
            case "Requests/sec:":
                if words.count > 1, let rate = Double(words[1]) {
                    result.requestsPerSecond = rate
                    sawRate = true
                }
            case "50%":
                result.latencyP50Milliseconds = words.count > 1 ? milliseconds(words[1]) ?? 0 : 0
            case "99%":
                result.latencyP99Milliseconds = words.count > 1 ? milliseconds(words[1]) ?? 0 : 0
            case "Socket":
                // "Socket errors: connect 0, read 0, write 0, timeout 0"
                result.errors += words.compactMap { Int($0) }.reduce(0, +)
            case "Non-2xx":
                result.errors += words.last.flatMap { Int($0) } ?? 0
            default:
                if words.count > 1, words[1] == "requests", let count = Int(first) { result.requests = count }
            }
        }
        return sawRate ? result : nil
    }

    private static func milliseconds(_ text: Substring) -> Double? {
        for (unit, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)] where text.hasSuffix(unit) {
            return Double(text.dropLast(unit.count)).map { $0 * scale }
        }
        return nil
    }

    /// Runs a command to its end: what it printed (standard output and error together) and its exit status.
    public static func runProcess(_ executable: String, _ arguments: [String]) throws -> (output: String, status: Int32) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (String(decoding: data, as: UTF8.self), process.terminationStatus)
    }
}
