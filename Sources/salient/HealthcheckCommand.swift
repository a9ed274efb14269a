import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The container's HEALTHCHECK: the slim runtime image has no curl, so the binary probes itself.
struct Healthcheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 0 if the service on this machine answers GET /healthz with 200, 1 otherwise.")

    @Option(help: "Port of the service (default: $SALIENT_PORT, else 8080).")
    var port: Int?

    @Option(help: "IPv4 address of the service.")
    var host = "127.0.0.1"

    @Option(help: "Seconds to wait for connecting and for the answer.")
    var timeout = 3

    func run() throws {
        let port = self.port ?? getenv("SALIENT_PORT").flatMap { Int(String(cString: $0)) } ?? 8080
        let status = try HealthProbe(host: host, port: port, timeoutSeconds: timeout).statusLine(path: "/healthz")
        guard status.hasPrefix("HTTP/1.1 200") || status.hasPrefix("HTTP/1.0 200") else {
            throw HealthProbe.Failure("unhealthy: \(host):\(port) answered \(status)")
        }
    }
}

/// One blocking HTTP/1.1 GET over a plain socket, bounded by send and receive timeouts.
struct HealthProbe {
    /// Argument parser prints it and exits with status 1, which Docker reads as unhealthy.
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    let host: String
    let port: Int
    let timeoutSeconds: Int

    func statusLine(path: String) throws -> String {
        guard (1...65535).contains(port) else { throw Failure("port \(port) is out of range") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw Failure("\(host) is not an IPv4 address") }

        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // On Linux the send timeout also bounds connect(), so a silent peer cannot hang the check.
        var limit = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        for option in [SO_RCVTIMEO, SO_SNDTIMEO] {
            setsockopt(fd, SOL_SOCKET, option, &limit, socklen_t(MemoryLayout<timeval>.size))
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw Failure("cannot connect to \(host):\(port): \(String(cString: strerror(errno)))") }

        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n\r\n".utf8)
        guard send(fd, request, request.count, 0) == request.count else { throw Failure("the request could not be sent") }
        var answer = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 512)
        while !answer.contains(UInt8(ascii: "\n")) && answer.count < 4096 {
            let received = recv(fd, &buffer, buffer.count, 0)
            guard received > 0 else { break }
            answer += buffer[0..<received]
        }
        let line = String(decoding: answer.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        guard !line.isEmpty else { throw Failure("no answer from \(host):\(port) within \(timeoutSeconds) s") }
        return line
    }
}
