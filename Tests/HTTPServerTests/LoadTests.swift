#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HTTPServer
import TestSupport
import XCTest

/// Many connections at once, and bodies of tens of megabytes.
final class LoadTests: XCTestCase {
    /// Each client socket and its server-side peer live in this one process.
    private func raiseDescriptorLimit(to wanted: rlim_t) throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < wanted {
            limit.rlim_cur = min(wanted, limit.rlim_max)
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        guard limit.rlim_cur >= wanted else { throw XCTSkip("RLIMIT_NOFILE hard limit \(limit.rlim_max) is too low") }
    }

    func testThousandConcurrentConnections() throws {
        try raiseDescriptorLimit(to: 4096)
        var configuration = HTTPServerConfiguration()
        configuration.backlog = 1024
        let server = try TestServer(configuration: configuration, router: makeTestRouter())
        defer { server.stop() }
        var clients: [RawClient] = []
        for _ in 0..<1000 {
            clients.append(try RawClient(port: server.port, timeout: 20))
        }
        for client in clients {
            try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        }
        var ok = 0
        for client in clients where client.readResponse()?.status == 200 {
            ok += 1
        }
        XCTAssertEqual(ok, 1000)
        XCTAssertEqual(server.server.connectionCount, 1000, "every connection is still open and kept alive")
        // Every connection stays usable for a second round.
        for client in clients.prefix(100) {
            try client.send("GET /items/2 HTTP/1.1\r\nHost: t\r\n\r\n")
            XCTAssertEqual(client.readResponse()?.text, "item 2")
        }
    }

    func testFiftyMegabyteUploadWithCurl() throws {
        let server = try TestServer(router: makeTestRouter())
        defer { server.stop() }
        let size = 50 * 1024 * 1024
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("upload-\(UUID().uuidString).bin")
        defer { try? FileManager.default.removeItem(at: file) }
        let body = patternData(size)
        try body.write(to: file)
        let started = Date()
        let result = try runCommand(curl, ["-sS", "--data-binary", "@\(file.path)", "-H", "Content-Type: application/octet-stream",
                                           "\(server.url)/pattern"])
        XCTAssertEqual(result.status, 0)
        XCTAssertEqual(result.output, "\(size) true")
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)
    }

    func testFiftyMegabyteChunkedUploadOverRawSocket() throws {
        let server = try TestServer(router: makeTestRouter())
        defer { server.stop() }
        let client = try RawClient(port: server.port, timeout: 30)
        try client.send("POST /pattern HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        let size = 50 * 1024 * 1024
        let chunkSize = 1 << 20
        var offset = 0
        while offset < size {
            // Each chunk starts where the pattern left off, so the whole body is one pattern.
            let chunk = [UInt8](patternData(chunkSize + offset % 251).dropFirst(offset % 251))
            try client.send(Array("\(String(chunkSize, radix: 16))\r\n".utf8) + chunk + [13, 10])
            offset += chunkSize
        }
        try client.send("0\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.text, "\(size) true")
    }
}
