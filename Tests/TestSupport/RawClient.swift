#if canImport(Glibc)
import Glibc
#endif
import Foundation

public struct RawResponse {
    public var status: Int
    public var headers: [(String, String)]
    public var body: Data

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The `code` of the JSON error body.
    public var errorCode: String? {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
              let error = object["error"] as? [String: Any] else { return nil }
        return error["code"] as? String
    }
}

/// A blocking TCP client that speaks raw bytes, so tests can send exactly what
/// a well-behaved client library never would.
public final class RawClient {
    public let fd: Int32
    private var buffer: [UInt8] = []
    /// Bytes before `start` are consumed; they are dropped before the next read.
    private var start = 0

    /// Takes over a connected socket.
    public init(fd: Int32, timeout: Double = 5) {
        self.fd = fd
        Self.setTimeouts(fd, timeout)
    }

    private static func setTimeouts(_ fd: Int32, _ timeout: Double) {
        var interval = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
    }

    public init(port: Int, host: String = "127.0.0.1", timeout: Double = 5) throws {
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

    public func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw SocketFailure("send errno \(errno)") }
            offset += count
        }
    }

    /// Sends a GET for `target` and reads its response.
    public func get(_ target: String) throws -> RawResponse? {
        try send("GET \(target) HTTP/1.1\r\nHost: t\r\n\r\n")
        return readResponse()
    }

    public func shutdownWrite() {
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
    public func readResponse(head: Bool = false) -> RawResponse? {
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
    public func isClosedByPeer() -> Bool {
        if buffer.count > start { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0) == 0
    }
}

public struct SocketFailure: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
