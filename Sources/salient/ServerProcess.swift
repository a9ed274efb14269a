import Foundation
import HTTPServer

/// `salient serve` on 127.0.0.1 with a fresh data folder, started from this same binary.
final class ServerProcess {
    private let process = Process()
    private let directory: URL
    private let log: URL
    private(set) var base = ""

    /// Starts the server with `arguments` after its own (host, port, data folder).
    init(arguments: [String] = []) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("salient-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        log = directory.appendingPathComponent("serve.log")
        // A file that could not be made fails just below, with the reason, when opened.
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        // /proc/self/exe, since arguments[0] may be a bare name found through PATH.
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", directory.appendingPathComponent("data").path]
            + arguments
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
