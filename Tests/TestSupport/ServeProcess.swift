import Foundation

/// The real `salient serve` from this checkout's release build, on 127.0.0.1 with a fresh data
/// folder, driven with curl; its memory is read from /proc/PID/status, as an operator would.
public final class ServeProcess {
    public struct Response {
        public var status: Int
        public var headers: [String: String]
        public var body: Data
        /// Wall-clock seconds from sending to the last byte.
        public var seconds: Double

        public var text: String { String(decoding: body, as: UTF8.self) }
        public var object: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        public var errorCode: String? { (object["error"] as? [String: Any])?["code"] as? String }
        public var errorMessage: String? { (object["error"] as? [String: Any])?["message"] as? String }
    }

    /// Resident and peak resident memory, in MiB.
    public struct Memory {
        public var residentMB: Double
        public var peakMB: Double
    }

    public let base: String
    public let dataDirectory: URL
    private let process = Process()
    private let directory: URL
    private let log: URL

    public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The `salient` built beside this test bundle, so the run with Swift's checks on
    /// (.build-checked) serves its own build; the release build otherwise.
    public static var binary: URL {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("salient")
        guard FileManager.default.isExecutableFile(atPath: beside.path) else {
            return repositoryRoot.appendingPathComponent(".build/release/salient")
        }
        return beside
    }

    /// A file of `shared/data` beside the repository or one of its ancestors, if there is one.
    public static func sharedData(_ path: String) -> URL? {
        var directory = repositoryRoot
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("shared/data").appendingPathComponent(path)
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        return nil
    }

    /// Starts the server with `arguments` after its own and `environment` added to this process's.
    public init(arguments: [String] = [], environment: [String: String] = [:]) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("salient-serve-\(UUID().uuidString)")
        dataDirectory = directory.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        log = directory.appendingPathComponent("serve.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        guard FileManager.default.isExecutableFile(atPath: Self.binary.path) else {
            throw ServeError("no release build at \(Self.binary.path); run `make build` (make test does)")
        }
        process.executableURL = Self.binary
        process.arguments = ["serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDirectory.path] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.currentDirectoryURL = directory
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        do {
            base = "http://127.0.0.1:\(try Self.waitForPort(process, log: log))"
        } catch {
            process.terminate()
            throw error
        }
        try waitUntilReady()
    }

    deinit { stop() }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    public var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// VmRSS and VmHWM of the server.
    public func memory() throws -> Memory { try Self.memory(of: pid) }

    static func memory(of pid: Int32) throws -> Memory {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        func kilobytes(_ key: String) throws -> Double {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }),
                  let value = line.split(separator: " ").dropFirst().first(where: { Double($0) != nil }).flatMap({ Double($0) }) else {
                throw ServeError("no \(key) in /proc/\(pid)/status")
            }
            return value
        }
        return Memory(residentMB: try kilobytes("VmRSS") / 1024, peakMB: try kilobytes("VmHWM") / 1024)
    }

    /// Threads of the server, from /proc/PID/status.
    public func threads() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Threads:") }),
              let count = Int(line.split(separator: "\t").last ?? "") else { throw ServeError("no Threads in /proc/\(pid)/status") }
        return count
    }

    /// One request through curl; `body` is sent as is with the given content type, or `form`
    /// fields as multipart (values starting with @ are files, as curl's -F).
    public func request(_ method: String, _ path: String, body: Data? = nil, contentType: String = "application/octet-stream",
                        form: [(String, String)] = [], headers: [String: String] = [:]) throws -> Response {
        let folder = directory.appendingPathComponent("curl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let bodyFile = folder.appendingPathComponent("body"), headerFile = folder.appendingPathComponent("headers")
        var arguments = ["-s", "-S", "--max-time", "300", "-X", method, "-o", bodyFile.path, "-D", headerFile.path,
                         "-w", "%{http_code} %{time_total}", "-H", "Expect:"]
        for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
        if let body {
            let upload = folder.appendingPathComponent("upload")
            try body.write(to: upload)
            arguments += ["-H", "Content-Type: \(contentType)", "--data-binary", "@\(upload.path)"]
        }
        for (name, value) in form { arguments += ["-F", "\(name)=\(value)"] }
        let output = try Self.run("/usr/bin/curl", arguments + [base + path])
        let fields = output.split(separator: " ")
        var responseHeaders: [String: String] = [:]
        for line in (try? String(contentsOf: headerFile, encoding: .utf8))?.split(separator: "\r\n") ?? [] {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { responseHeaders[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return Response(status: fields.first.flatMap { Int($0) } ?? 0, headers: responseHeaders,
                        body: (try? Data(contentsOf: bodyFile)) ?? Data(), seconds: fields.dropFirst().first.flatMap { Double($0) } ?? 0)
    }

    /// `count` copies of a request at once; the answers in no particular order.
    public func concurrently(_ count: Int, _ send: @escaping (Int) throws -> Response) -> [Result<Response, Error>] {
        var results = [Result<Response, Error>?](repeating: nil, count: count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: count) { index in
            let result = Result { try send(index) }
            lock.withLock { results[index] = result }
        }
        return results.map { $0! }
    }

    /// Samples the peak resident memory while `body` runs (VmHWM is the peak since start; this
    /// reads it after, and VmRSS every few milliseconds meanwhile, whichever is larger).
    public func peakMemory(during body: () throws -> Void) throws -> Double {
        let stop = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        let sampled = Sample()
        let pid = pid
        DispatchQueue.global().async {
            while stop.wait(timeout: .now() + .milliseconds(5)) == .timedOut {
                if let memory = try? ServeProcess.memory(of: pid) { sampled.raise(to: memory.residentMB) }
            }
            done.signal()
        }
        defer {
            stop.signal()
            done.wait()
        }
        try body()
        return max(sampled.value, try memory().peakMB)
    }

    private func waitUntilReady() throws {
        let deadline = Date(timeIntervalSinceNow: 120)
        while Date() < deadline, process.isRunning {
            if let response = try? request("GET", "/readyz"), response.status == 200 { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw ServeError("salient serve never became ready: \(logText)")
    }

    /// The port from the server's "listening" log line (it was asked for port 0).
    private static func waitForPort(_ process: Process, log: URL) throws -> Int {
        let deadline = Date(timeIntervalSinceNow: 120)
        while Date() < deadline, process.isRunning {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.contains("listening") }),
               let field = line.split(separator: " ").first(where: { $0.hasPrefix("port=") }), let port = Int(field.dropFirst(5)) {
                return port
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw ServeError("salient serve did not start: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// The largest value seen, from any thread.
private final class Sample: @unchecked Sendable {
    private let lock = NSLock()
    private var largest = 0.0

    func raise(to value: Double) { lock.withLock { largest = max(largest, value) } }
    var value: Double { lock.withLock { largest } }
}

public struct ServeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
