import Foundation
import HTTPServer

/// Issue 20's sustained load, round after round on one `salient serve` with its default
/// configuration: wrk POSTs a photo to the default model's classification at 64 connections,
/// then asks for SmoothGrad maps of it at 8, and the server's resident memory is read after each
/// round, with what glibc's malloc holds in use and free (from /metrics). The target: after the
/// first round, resident memory stays within 20% of round 1's.
struct SoakBenchmark {
    var image = "../shared/data/images/chelsea.png"
    var rounds = 10
    var classifySeconds = 20
    var saliencySeconds = 10
    var classifyConnections = 64
    var saliencyConnections = 8
    var wrk = "/usr/bin/wrk"
    /// Further `salient serve` arguments, to compare settings.
    var serverArguments: [String] = []
    /// Allowed drift of later rounds from round 1.
    static let tolerance = 0.2

    func run() throws -> String {
        guard FileManager.default.isReadableFile(atPath: image) else { throw ServingBenchmark.Failure(description: "no image at \(image)") }
        guard FileManager.default.isExecutableFile(atPath: wrk) else { throw ServingBenchmark.Failure(description: "wrk is not installed at \(wrk)") }
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("salient-soak-\(UUID().uuidString).lua")
        try ServingBenchmark.postScript(image: URL(fileURLWithPath: image).standardizedFileURL.path)
            .write(to: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: script) }
        let server = try ServerProcess(arguments: serverArguments)
        defer { server.stop() }

        var lines = [
            "soak: salient serve \(serverArguments.joined(separator: " ")), \(rounds) rounds of \(classifySeconds) s classification "
                + "at \(classifyConnections) connections + \(saliencySeconds) s SmoothGrad at \(saliencyConnections), "
                + URL(fileURLWithPath: image).lastPathComponent,
            "round  classify/s  smoothgrad/s  errors   resident MB  vs round 1   heap in use MB  heap free MB",
        ]
        let idle = try server.memory()
        let idleHeap = heap(server)
        lines.append("idle" + String(repeating: " ", count: 41) + String(format: "%11.1f", idle.residentMB) + String(repeating: " ", count: 13)
                     + idleHeap.inUse.leftPadded(to: 17) + idleHeap.free.leftPadded(to: 14))
        print(lines.joined(separator: "\n"))
        var resident: [Double] = []
        for round in 1...rounds {
            let classify = try load(server, path: "/v1/models/fashion-cnn/classify", connections: classifyConnections,
                                    seconds: classifySeconds, script: script)
            let saliency = try load(server, path: "/v1/models/fashion-cnn/saliency?method=smoothgrad", connections: saliencyConnections,
                                    seconds: saliencySeconds, script: script)
            let memory = try server.memory()
            resident.append(memory.residentMB)
            let drift = resident.count > 1 ? String(format: "%+9.1f%%", 100 * (memory.residentMB / resident[0] - 1)) : ""
            let (inUse, free) = heap(server)
            let line = String(format: "%5d  %10.1f  %12.1f  %6d   %11.1f", round, classify.requestsPerSecond,
                              saliency.requestsPerSecond, classify.errors + saliency.errors, memory.residentMB)
                + drift.leftPadded(to: 13) + inUse.leftPadded(to: 17) + free.leftPadded(to: 14)
            print(line)
            lines.append(line)
        }
        let worst = resident.dropFirst().map { abs($0 / resident[0] - 1) }.max() ?? 0
        let verdict = String(format: "largest drift from round 1 over rounds 2-%d: %.1f%% (target: within %.0f%%), peak %.1f MB",
                             rounds, 100 * worst, 100 * Self.tolerance, try server.memory().peakMB)
        print(verdict)
        return (lines + [verdict]).joined(separator: "\n")
    }

    private func load(_ server: ServerProcess, path: String, connections: Int, seconds: Int, script: URL) throws -> HTTPBenchmark.Result {
        let output = try ServerProcess.output(of: wrk, ["-t\(min(2, connections))", "-c\(connections)", "-d\(seconds)s",
                                                        "--timeout", "30s", "-s", script.path, server.base + path])
        guard let result = HTTPBenchmark.parse(output) else {
            throw ServingBenchmark.Failure(description: "wrk printed no result: \(output)")
        }
        return result
    }

    /// glibc malloc's bytes in use and free-but-kept, from the server's /metrics, in MB.
    private func heap(_ server: ServerProcess) -> (inUse: String, free: String) {
        guard let metrics = try? ServerProcess.output(of: "/usr/bin/curl", ["-sf", "\(server.base)/metrics"]) else { return ("?", "?") }
        func value(_ name: String) -> String {
            metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }
                .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
                .map { String(format: "%.1f", $0 / 1_048_576) } ?? "?"
        }
        return (value("salient_heap_in_use_bytes"), value("salient_heap_free_bytes"))
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
