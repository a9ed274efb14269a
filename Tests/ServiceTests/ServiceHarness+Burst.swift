import Foundation
import TestSupport
import XCTest

extension ServiceHarness {
    /// POSTs `file` to `path` `count` times, on connections of their own, so that the requests
    /// reach the server together: each is written but for its last byte, then the last bytes go
    /// out in one loop, microseconds apart. Curl processes started at once arrive milliseconds
    /// apart, and a fast machine served sixteen of them one after another, none refused, in a
    /// test of refusals.
    func burst(_ path: String, file: URL, count: Int) throws -> [RawResponse] {
        let port = try XCTUnwrap(service.port)
        let body = try Data(contentsOf: file)
        let head = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
            + "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let request = Array(head.utf8) + Array(body)
        let clients = try (0..<count).map { _ in try RawClient(port: port, timeout: 120) }
        for client in clients { try client.send(Array(request.dropLast())) }
        // Time for the server to read every head and body but the last byte; a slower server
        // only reads the rest later, still ahead of the last bytes.
        Thread.sleep(forTimeInterval: 0.3)
        for client in clients { try client.send([request[request.count - 1]]) }
        return try clients.enumerated().map { try XCTUnwrap($1.readResponse(), "no answer to request \($0)") }
    }
}
