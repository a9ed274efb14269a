#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HTTPServer
import HTTPTypes
import Logging
import TestSupport
import XCTest

/// A server on 127.0.0.1 with an ephemeral port, or with no port at all (`listening: false`),
/// its connections then being socket pairs; stopped by `stop()`.
final class TestServer {
    let server: HTTPServer
    private let listeningPort: Int?

    init(configuration: HTTPServerConfiguration = HTTPServerConfiguration(), router: Router,
         logger: Logger = quietLogger, observer: HTTPServerObserver? = nil, listening: Bool = true) throws {
        var configuration = configuration
        configuration.host = configuration.host == "0.0.0.0" ? "127.0.0.1" : configuration.host
        configuration.port = 0
        server = HTTPServer(configuration: configuration, router: router, logger: logger, observer: observer)
        try server.start(listening: listening)
        listeningPort = server.port
        XCTAssertEqual(listeningPort != nil, listening)
    }

    /// The listening port; only for servers started listening.
    var port: Int { listeningPort! }

    var url: String { "http://127.0.0.1:\(port)" }

    /// A client connected to the server: over TCP when it listens, else over a socket pair
    /// whose other end the server is handed.
    func client(timeout: Double = 5) throws -> RawClient {
        if let listeningPort { return try RawClient(port: listeningPort, timeout: timeout) }
        var ends: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0 else { throw SocketFailure("socketpair errno \(errno)") }
        server.serve(connectedSocket: ends[0], peer: "socketpair")
        return RawClient(fd: ends[1], timeout: timeout)
    }

    func stop() {
        server.shutdown(grace: 1)
    }
}

let quietLogger: Logger = {
    var logger = Logger(label: "http.test")
    logger.logLevel = .critical
    return logger
}()

/// A response read off a raw socket.
/// Reads a pipe to its end on another thread.
final class Pipeline: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        DispatchQueue.global().async { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func result() -> Data {
        done.wait()
        return data
    }
}

/// Runs a command and returns its exit status, standard output and standard error.
@discardableResult
func runCommand(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    // stderr is drained on its own thread so that neither pipe can fill up and stall the child.
    let drained = Pipeline(errors.fileHandleForReading)
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self), String(decoding: drained.result(), as: UTF8.self))
}

/// python3 from the test environment, else from PATH.
var python: String {
    if let configured = ProcessInfo.processInfo.environment["SALIENT_PYTHON"], FileManager.default.isExecutableFile(atPath: configured) {
        return configured
    }
    for candidate in ["/usr/bin/python3", "/usr/local/bin/python3"] where FileManager.default.isExecutableFile(atPath: candidate) {
        return candidate
    }
    return "/usr/bin/env"
}

func runPython(_ script: String, _ arguments: [String] = []) throws -> (status: Int32, output: String, errors: String) {
    if python == "/usr/bin/env" {
        return try runCommand(python, ["python3", "-c", script] + arguments)
    }
    return try runCommand(python, ["-c", script] + arguments)
}

let curl = "/usr/bin/curl"

/// `count` bytes of the repeating pattern 0, 1, ..., 250 that the /pattern route checks.
func patternData(_ count: Int) -> Data {
    var data = Data((0..<251).map { UInt8($0) })
    while data.count < count {
        data.append(data)
    }
    return Data(data.prefix(count))
}

/// A handler-side flag that tests wait on.
final class Flag: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)

    func raise() {
        semaphore.signal()
    }

    func wait(_ seconds: Double = 5) -> Bool {
        semaphore.wait(timeout: .now() + seconds) == .success
    }
}

/// A handler that blocks until the test releases it, recording the order in which requests
/// reached it, so a test waits for "these handlers are running" instead of sleeping and hoping.
final class Gate: @unchecked Sendable {
    private let condition = NSCondition()
    private var open = false
    private var started: [String] = []

    func pass(_ name: String) {
        condition.withLock {
            started.append(name)
            condition.broadcast()
            while !open { condition.wait() }
        }
    }

    func release() {
        condition.withLock {
            open = true
            condition.broadcast()
        }
    }

    /// Waits until `count` requests have started their handlers.
    func waitForStarted(_ count: Int, timeout: Double = 10) -> Bool {
        condition.withLock {
            let deadline = Date(timeIntervalSinceNow: timeout)
            while started.count < count { if !condition.wait(until: deadline) { return false } }
            return true
        }
    }

    var startedNames: [String] { condition.withLock { started } }
}

/// Polls `condition` (a server's state, read from outside) until it holds; fails the test after
/// `timeout`.
@discardableResult
func waitUntil(_ message: String, timeout: Double = 10, file: StaticString = #filePath, line: UInt = #line,
               _ condition: () -> Bool) -> Bool {
    let deadline = Date(timeIntervalSinceNow: timeout)
    while !condition() {
        guard Date() < deadline else {
            XCTFail("timed out waiting for \(message)", file: file, line: line)
            return false
        }
        usleep(1000)
    }
    return true
}
