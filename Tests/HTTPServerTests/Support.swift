#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HTTPServer
import HTTPTypes
import Logging
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
struct RawResponse {
    var status: Int
    var headers: [(String, String)]
    var body: Data

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The `code` of the JSON error body.
    var errorCode: String? {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
              let error = object["error"] as? [String: Any] else { return nil }
        return error["code"] as? String
    }
}

/// A blocking TCP client that speaks raw bytes, so tests can send exactly what
/// a well-behaved client library never would.
final class RawClient {
    let fd: Int32
    private var buffer: [UInt8] = []
    /// Bytes before `start` are consumed; they are dropped before the next read.
    private var start = 0

    /// Takes over a connected socket.
    init(fd: Int32, timeout: Double = 5) {
        self.fd = fd
        Self.setTimeouts(fd, timeout)
    }

    private static func setTimeouts(_ fd: Int32, _ timeout: Double) {
        var interval = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
    }

    init(port: Int, host: String = "127.0.0.1", timeout: Double = 5) throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &results) == 0, let address = results else {
            throw SocketFailure("getaddrinfo")
        }
        defer { freeaddrinfo(results) }
        fd = socket(address.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketFailure("socket") }
        Self.setTimeouts(fd, timeout)
        guard connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 else {
            let failure = SocketFailure("connect errno \(errno)")
            close(fd)
            throw failure
        }
    }

    deinit {
        close(fd)
    }

    func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw SocketFailure("send errno \(errno)") }
            offset += count
        }
    }

    /// Sends a GET for `target` and reads its response.
    func get(_ target: String) throws -> RawResponse? {
        try send("GET \(target) HTTP/1.1\r\nHost: t\r\n\r\n")
        return readResponse()
    }

    func shutdownWrite() {
        Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    /// Reads more bytes; false on EOF, error, or timeout.
    private func fill() -> Bool {
        if start > 0 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = recv(fd, &chunk, chunk.count, 0)
        guard count > 0 else { return false }
        buffer.append(contentsOf: chunk[0..<count])
        return true
    }

    private func readLine() -> String? {
        while true {
            if let index = buffer[start...].firstIndex(of: 10) {
                let line = buffer[start..<index]
                start = index + 1
                return String(decoding: line.last == 13 ? line.dropLast() : line, as: UTF8.self)
            }
            guard fill() else { return nil }
        }
    }

    private func read(count: Int) -> Data? {
        while buffer.count - start < count {
            guard fill() else { return nil }
        }
        let data = Data(buffer[start..<(start + count)])
        start += count
        return data
    }

    /// Reads one response; `head` skips the body a HEAD response announces.
    func readResponse(head: Bool = false) -> RawResponse? {
        guard let statusLine = readLine() else { return nil }
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
        var headers: [(String, String)] = []
        while let line = readLine(), !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var response = RawResponse(status: status, headers: headers, body: Data())
        if head || status == 204 || status == 304 || (100..<200).contains(status) { return response }
        if response.header("transfer-encoding") == "chunked" {
            while let sizeLine = readLine(), let size = Int(sizeLine.split(separator: ";")[0], radix: 16) {
                if size == 0 {
                    while let trailer = readLine(), !trailer.isEmpty {}
                    return response
                }
                guard let chunk = read(count: size), readLine() != nil else { return nil }
                response.body.append(chunk)
            }
            return nil
        }
        if let length = response.header("content-length").flatMap(Int.init) {
            guard let body = read(count: length) else { return nil }
            response.body = body
            return response
        }
        while fill() {}
        response.body = Data(buffer[start...])
        buffer = []
        start = 0
        return response
    }

    /// True when the server closed the connection (EOF) within the timeout.
    func isClosedByPeer() -> Bool {
        if buffer.count > start { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0) == 0
    }
}

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

struct SocketFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
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
