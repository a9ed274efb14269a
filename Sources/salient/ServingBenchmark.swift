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
        try postScript(image: URL(fileURLWithPath: image).standardizedFileURL.path).write(to: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: script) }
        let zoo = zooModels.filter { FileManager.default.isReadableFile(atPath: $0) }

        var lines = [
            "end to end: salient serve, wrk POSTing \(URL(fileURLWithPath: image).lastPathComponent) to /v1/models/{model}/classify, \(seconds) s per row",
            "model              batching            connections  requests/s    p50 ms    p99 ms  mean batch  errors  cpu ms/request",
        ]
        var memory = ["\nresident memory of salient serve (VmRSS; peak is VmHWM since start; target: idle with the default model < 64 MB)"]
        for maxBatch in batchSizes {
            let server = try ServerProcess(maxBatchSize: maxBatch)
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

    private func postScript(image: String) -> String {
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

/// `salient serve` on 127.0.0.1 with a fresh data folder, started from this same binary.
private final class ServerProcess {
    private let process = Process()
    private let directory: URL
    private let log: URL
    private(set) var base = ""

    init(maxBatchSize: Int) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("salient-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        log = directory.appendingPathComponent("serve.log")
        // A file that could not be made fails just below, with the reason, when opened.
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        // /proc/self/exe, since arguments[0] may be a bare name found through PATH.
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", directory.appendingPathComponent("data").path,
                             "--max-batch-size", "\(maxBatchSize)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        do {
            base = "http://127.0.0.1:\(try waitForPort())"
            try waitUntilReady()
        } catch {
            stop()
            throw error
        }
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// The port from the server's "listening" log line (it was asked for port 0).
    private func waitForPort() throws -> Int {
        let deadline = Date(timeIntervalSinceNow: 60)
        while Date() < deadline, process.isRunning {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.contains("listening") }),
               let field = line.split(separator: " ").first(where: { $0.hasPrefix("port=") }), let port = Int(field.dropFirst(5)) {
                return port
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw ServingBenchmark.Failure(description: "salient serve did not start: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
    }

    private func waitUntilReady() throws {
        let deadline = Date(timeIntervalSinceNow: 60)
        while Date() < deadline {
            if (try? ServerProcess.output(of: "/usr/bin/curl", ["-sf", "\(base)/readyz"])) != nil { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw ServingBenchmark.Failure(description: "salient serve at \(base) never became ready")
    }

    struct Memory {
        var residentMB: Double
        var peakMB: Double
    }

    /// The server's user plus system CPU time so far, from /proc/PID/stat: unlike requests/s,
    /// CPU time per request holds still when other processes share the cores.
    func cpuSeconds() throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8)
        // Fields after the parenthesised command name, which may hold spaces: utime and stime are 12th and 13th.
        let fields = stat[(stat.range(of: ")", options: .backwards)?.upperBound ?? stat.startIndex)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else {
            throw ServingBenchmark.Failure(description: "cannot read /proc/\(process.processIdentifier)/stat")
        }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// VmRSS and VmHWM from /proc.
    func memory() throws -> Memory {
        let status = try String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        func megabytes(_ key: String) throws -> Double {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }),
                  let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) else {
                throw ServingBenchmark.Failure(description: "no \(key) in /proc/\(process.processIdentifier)/status")
            }
            return kilobytes / 1024
        }
        return Memory(residentMB: try megabytes("VmRSS"), peakMB: try megabytes("VmHWM"))
    }

    /// Images and batches of one model so far, from `salient_inference_batch_size`.
    func batchTotals(model: String) throws -> (images: Int, batches: Int) {
        let metrics = try ServerProcess.output(of: "/usr/bin/curl", ["-sf", "\(base)/metrics"])
        func value(_ series: String) -> Int {
            metrics.split(separator: "\n").first { $0.hasPrefix("\(series){model=\"\(model)\"} ") }
                .flatMap { $0.split(separator: " ").last.flatMap { Int($0) } } ?? 0
        }
        return (value("salient_inference_batch_size_sum"), value("salient_inference_batch_size_count"))
    }

    /// Uploads an ONNX classifier with ImageNet preprocessing and 1000 placeholder labels.
    func upload(_ path: String, as name: String) throws {
        let labels = directory.appendingPathComponent("labels.txt")
        try (0..<1000).map { "class \($0)" }.joined(separator: "\n").write(to: labels, atomically: true, encoding: .utf8)
        _ = try ServerProcess.output(of: "/usr/bin/curl", ["-sf", "-F", "file=@\(path)", "-F", "name=\(name)", "-F", "labels=<\(labels.path)",
                                                         "-F", "preprocessing=imagenet", "\(base)/v1/models"])
    }

    /// What a command prints; throws when it fails.
    static func output(of executable: String, _ arguments: [String]) throws -> String {
        let (output, status) = try HTTPBenchmark.runProcess(executable, arguments)
        guard status == 0 else {
            throw ServingBenchmark.Failure(description: "\(executable) \(arguments.joined(separator: " ")) failed: \(output)")
        }
        return output
    }
}
