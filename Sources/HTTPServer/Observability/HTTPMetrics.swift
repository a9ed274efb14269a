import Foundation
import Synchronization

/// Request counters and a latency histogram per route, rendered in the
/// Prometheus text exposition format. Pass it as the server's observer.
public final class HTTPMetrics: HTTPServerObserver, Sendable {
    private struct Key: Hashable {
        var method: String
        var route: String
        var status: Int
    }

    private struct Histogram {
        var buckets: [Int]
        var count = 0
        var sum = 0.0
    }

    private struct ShedKey: Hashable {
        var queue: String
        var reason: String
    }

    private struct Counts {
        var requests: [Key: Int] = [:]
        var bytes: [Key: Int] = [:]
        var latency: [String: Histogram] = [:]
        var shed: [ShedKey: Int] = [:]
        var openConnections = 0
        var acceptedConnections = 0
    }

    /// Upper bounds in seconds, spanning a cached static file to a slow inference.
    public let bucketBounds: [Double]
    private let counts = Mutex(Counts())

    public init(bucketBounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]) {
        self.bucketBounds = bucketBounds.sorted()
    }

    public func requestCompleted(_ record: HTTPAccessRecord) {
        // Unmatched paths share one label so that scanners cannot explode the series count.
        let route = record.route ?? "unmatched"
        let key = Key(method: record.method, route: route, status: record.status)
        let bucket = bucketBounds.firstIndex { record.duration <= $0 }
        counts.withLock { counts in
            counts.requests[key, default: 0] += 1
            counts.bytes[key, default: 0] += record.bodyBytes
            var histogram = counts.latency[route] ?? Histogram(buckets: Array(repeating: 0, count: bucketBounds.count))
            if let bucket { histogram.buckets[bucket] += 1 }
            histogram.count += 1
            histogram.sum += record.duration
            counts.latency[route] = histogram
        }
    }

    public func connectionOpened() {
        counts.withLock { counts in
            counts.openConnections += 1
            counts.acceptedConnections += 1
        }
    }

    public func connectionClosed() {
        counts.withLock { $0.openConnections -= 1 }
    }

    public func requestShed(queue: String, reason: String) {
        counts.withLock { $0.shed[ShedKey(queue: queue, reason: reason), default: 0] += 1 }
    }

    /// Requests answered 503 unhandled, for `queue` (any when nil).
    public func shedCount(queue: String? = nil) -> Int {
        counts.withLock { counts in counts.shed.filter { queue == nil || $0.key.queue == queue }.values.reduce(0, +) }
    }

    /// The number of requests answered with `status` on `route` (any method when nil).
    public func requestCount(route: String? = nil, status: Int? = nil) -> Int {
        counts.withLock { counts in
            counts.requests.filter { (route == nil || $0.key.route == route) && (status == nil || $0.key.status == status) }
                .values.reduce(0, +)
        }
    }

    public func prometheusText(prefix: String = "http") -> String {
        let counts = self.counts.withLock { $0 }
        var lines: [String] = []
        lines.append("# HELP \(prefix)_requests_total Requests answered, by method, route and status.")
        lines.append("# TYPE \(prefix)_requests_total counter")
        for (key, count) in counts.requests.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            lines.append("\(prefix)_requests_total{\(labels(key))} \(count)")
        }
        lines.append("# HELP \(prefix)_response_body_bytes_total Response body bytes sent.")
        lines.append("# TYPE \(prefix)_response_body_bytes_total counter")
        for (key, count) in counts.bytes.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            lines.append("\(prefix)_response_body_bytes_total{\(labels(key))} \(count)")
        }
        lines.append("# HELP \(prefix)_request_duration_seconds Time from request head to last response byte.")
        lines.append("# TYPE \(prefix)_request_duration_seconds histogram")
        for (route, histogram) in counts.latency.sorted(by: { $0.key < $1.key }) {
            let label = "route=\"\(escape(route))\""
            var cumulative = 0
            for (bound, count) in zip(bucketBounds, histogram.buckets) {
                cumulative += count
                lines.append("\(prefix)_request_duration_seconds_bucket{\(label),le=\"\(bound)\"} \(cumulative)")
            }
            lines.append("\(prefix)_request_duration_seconds_bucket{\(label),le=\"+Inf\"} \(histogram.count)")
            lines.append("\(prefix)_request_duration_seconds_sum{\(label)} \(histogram.sum)")
            lines.append("\(prefix)_request_duration_seconds_count{\(label)} \(histogram.count)")
        }
        lines.append("# HELP \(prefix)_requests_shed_total Requests answered 503 without being handled: their queue was full or request bodies in memory were at their limit.")
        lines.append("# TYPE \(prefix)_requests_shed_total counter")
        for (key, count) in counts.shed.sorted(by: { ($0.key.queue, $0.key.reason) < ($1.key.queue, $1.key.reason) }) {
            lines.append("\(prefix)_requests_shed_total{queue=\"\(escape(key.queue))\",reason=\"\(key.reason)\"} \(count)")
        }
        lines.append("# HELP \(prefix)_connections_open Connections currently open.")
        lines.append("# TYPE \(prefix)_connections_open gauge")
        lines.append("\(prefix)_connections_open \(counts.openConnections)")
        lines.append("# HELP \(prefix)_connections_total Connections accepted.")
        lines.append("# TYPE \(prefix)_connections_total counter")
        lines.append("\(prefix)_connections_total \(counts.acceptedConnections)")
        return lines.joined(separator: "\n") + "\n"
    }

    private func labels(_ key: Key) -> String {
        "method=\"\(escape(key.method))\",route=\"\(escape(key.route))\",status=\"\(key.status)\""
    }

    private func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
