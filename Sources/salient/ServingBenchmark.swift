import Foundation
import HTTPServer

/// End to end: this binary's `salient serve` in a subprocess, a real photo POSTed to
/// `/v1/models/{name}/classify` by wrk at several connection counts, with dynamic batching on
/// and off, and the server's resident memory idle and under that load. The default model is
/// tiny, so decoding dominates its requests; model-zoo graphs uploaded next show models whose
/// inference dominates: SqueezeNet, all convolutions, and AlexNet, whose large dense layers
/// cost less per image in a batch.
struct ServingBenchmark {
    var image = "../shared/data/images/chelsea.png"
    /// Uploaded with 1000 placeholder labels and ImageNet preprocessing; those absent are skipped.
    var zooModels = ["light_squeezenet", "light_bvlc_alexnet"].map { "../shared/data/onnx-light/\($0).onnx" }
    var connections = [1, 8, 64]
    var seconds = 5
    var wrk = "/usr/bin/wrk"
    /// `--max-batch-size` values: the default and batching off.
    var batchSizes = [8, 1]

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    func run() throws -> String {
        guard FileManager.default.isReadableFile(atPath: image) else { throw Failure(description: "no image at \(image)") }
        guard FileManager.default.isExecutableFile(atPath: wrk) else { throw Failure(description: "wrk is not installed at \(wrk)") }
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("salient-bench-\(UUID().uuidString).lua")
        try Self.postScript(image: URL(fileURLWithPath: image).standardizedFileURL.path).write(to: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: script) }
        let zoo = zooModels.filter { FileManager.default.isReadableFile(atPath: $0) }

        var lines = [
            "end to end: salient serve, wrk POSTing \(URL(fileURLWithPath: image).lastPathComponent) to /v1/models/{model}/classify, \(seconds) s per row",
            "model              batching            connections  requests/s    p50 ms    p99 ms  mean batch  errors  cpu ms/request",
        ]
        var memory = ["\nresident memory of salient serve (VmRSS; peak is VmHWM since start; target: idle with the default model < 64 MB)"]
        for maxBatch in batchSizes {
            let server = try ServerProcess(arguments: ["--max-batch-size", "\(maxBatch)"])
            defer { server.stop() }
            let batching = maxBatch == 1 ? "off (max 1)" : "on (max \(maxBatch))"
            let idle = try server.memory()
            lines += try rows(server, model: "fashion-cnn", batching: batching, script: script)
            let loaded = try server.memory()
            memory.append(String(format: "  batching %@: idle %.1f MB; after the default model's load %.1f MB, peak %.1f MB",
                                 batching, idle.residentMB, loaded.residentMB, loaded.peakMB))
            for path in zoo {
                let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
                try server.upload(path, as: name)
                lines += try rows(server, model: name, batching: batching, script: script)
                memory.append(String(format: "    peak after %@'s load too: %.1f MB", name, try server.memory().peakMB))
            }
        }
        return (lines + memory).joined(separator: "\n")
    }

    /// One wrk run per connection count, with the mean batch size the server reports for it.
    private func rows(_ server: ServerProcess, model: String, batching: String, script: URL) throws -> [String] {
        try connections.map { count in
            let before = try server.batchTotals(model: model), cpuBefore = try server.cpuSeconds()
            let output = try ServerProcess.output(of: wrk, ["-t\(min(2, count))", "-c\(count)", "-d\(seconds)s", "--timeout", "30s", "--latency",
                                                            "-s", script.path, "\(server.base)/v1/models/\(model)/classify"])
            guard let result = HTTPBenchmark.parse(output) else { throw Failure(description: "wrk printed no result: \(output)") }
            let after = try server.batchTotals(model: model), cpu = try server.cpuSeconds() - cpuBefore
            let batches = after.batches - before.batches
            let meanBatch = batches > 0 ? Double(after.images - before.images) / Double(batches) : 0
            return model.padding(toLength: 18, withPad: " ", startingAt: 0) + " " + batching.padding(toLength: 18, withPad: " ", startingAt: 0)
                + String(format: " %12d %11.1f %9.2f %9.2f %11.2f %7d %15.2f", count, result.requestsPerSecond,
                         result.latencyP50Milliseconds, result.latencyP99Milliseconds, meanBatch, result.errors,
                         1000 * cpu / Double(max(after.images - before.images, 1)))
        }
    }

    /// A wrk script that POSTs the file at `image` as the body.
    static func postScript(image: String) -> String {
        let quoted = image.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return """
        local file = assert(io.open("\(quoted)", "rb"))
        wrk.method = "POST"
        wrk.body = file:read("*all")
        file:close()
        wrk.headers["Content-Type"] = "application/octet-stream"

        """
    }
}
