import Foundation
import HTTPServer
import TestSupport
import XCTest

/// TLS through OpenSSL with a self-signed certificate made at test time.
final class TLSTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let result = try runCommand("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-keyout", folder.appendingPathComponent("key.pem").path, "-out", folder.appendingPathComponent("cert.pem").path,
        ])
        guard result.status == 0 else { throw XCTSkip("openssl req failed: \(result.errors)") }
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: folder)
    }

    private var tlsConfiguration: HTTPServerConfiguration {
        var configuration = HTTPServerConfiguration()
        configuration.tls = .init(certificatePath: folder.appendingPathComponent("cert.pem").path,
                                  privateKeyPath: folder.appendingPathComponent("key.pem").path)
        return configuration
    }

    func testCurlOverTLSWithKeepAliveAndLargeBodies() throws {
        let server = try TestServer(configuration: tlsConfiguration, router: makeTestRouter())
        defer { server.stop() }
        let base = "https://127.0.0.1:\(server.port)"
        let small = try runCommand(curl, ["-sS", "-k", "-v", "\(base)/hello", "\(base)/items/3"])
        XCTAssertEqual(small.status, 0, small.errors)
        XCTAssertEqual(small.output, "helloitem 3")
        XCTAssertTrue(small.errors.contains("Re-using existing") || small.errors.contains("Reusing existing"))

        // 4.5 MB each way crosses many TLS records and partial non-blocking writes.
        let large = try runCommand(curl, ["-sS", "-k", "\(base)/text/100000"])
        XCTAssertEqual(large.output.utf8.count, 4_500_000)
        let file = folder.appendingPathComponent("body.bin")
        try patternData(3_000_000).write(to: file)
        let upload = try runCommand(curl, ["-sS", "-k", "--data-binary", "@\(file.path)", "\(base)/pattern"])
        XCTAssertEqual(upload.output, "3000000 true")
    }

    func testPlainHTTPToTLSPortIsDropped() throws {
        let server = try TestServer(configuration: tlsConfiguration, router: makeTestRouter())
        defer { server.stop() }
        let client = try RawClient(port: server.port)
        try client.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertNil(client.readResponse())
        XCTAssertEqual(server.server.connectionCount == 0 || client.isClosedByPeer(), true)
    }

    func testMissingCertificateFailsToStart() {
        var configuration = tlsConfiguration
        configuration.tls?.certificatePath = folder.appendingPathComponent("absent.pem").path
        configuration.port = 0
        let server = HTTPServer(configuration: configuration, router: Router(), logger: quietLogger)
        XCTAssertThrowsError(try server.start()) { error in
            XCTAssertTrue("\(error)".contains("absent.pem"), "\(error)")
        }
    }
}
