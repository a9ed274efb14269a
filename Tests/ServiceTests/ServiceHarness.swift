import Foundation
import Logging
import Service
import XCTest

/// A real `SalientService` on 127.0.0.1 with an ephemeral port and its own data folder,
/// driven with curl as users drive it.
final class ServiceHarness {
    let service: SalientService
    let dataDirectory: URL
    let base: String

    init(_ configure: (inout ServiceConfiguration) -> Void = { _ in }, dataDirectory: URL? = nil) throws {
        let directory = dataDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("salient-\(UUID().uuidString)")
        var configuration = ServiceConfiguration()
        configuration.server.host = "127.0.0.1"
        configuration.server.port = 0
        configuration.dataDirectory = directory.path
        configuration.publicDirectory = ServiceHarness.repositoryRoot.appendingPathComponent("public").path
        configure(&configuration)
        var logger = Logger(label: "service.test")
        logger.logLevel = .critical
        service = try SalientService(configuration: configuration, logger: logger)
        try service.start()
        self.dataDirectory = directory
        base = "http://127.0.0.1:\(try XCTUnwrap(service.port))"
    }

    func stop() {
        service.shutdown(grace: 1)
        try? FileManager.default.removeItem(at: dataDirectory)
    }

    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// ../shared/data/images beside the repository or one of its ancestors.
    static func photos() throws -> [URL] {
        var directory = repositoryRoot
        while directory.path != "/" {
            let images = directory.appendingPathComponent("shared/data/images")
            if let names = try? FileManager.default.contentsOfDirectory(atPath: images.path) {
                return names.sorted().map { images.appendingPathComponent($0) }
            }
            directory.deleteLastPathComponent()
        }
        throw XCTSkip("no shared/data/images beside the repository")
    }

    struct Response {
        var status: Int
        var headers: [String: String]
        var body: Data

        var json: Any? { try? JSONSerialization.jsonObject(with: body) }
        var object: [String: Any] { json as? [String: Any] ?? [:] }
        var errorCode: String? { (object["error"] as? [String: Any])?["code"] as? String }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Runs curl with `arguments` against `path`, capturing status, headers and body.
    func curl(_ path: String, _ arguments: [String] = []) throws -> Response {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("curl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let bodyFile = folder.appendingPathComponent("body"), headerFile = folder.appendingPathComponent("headers")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "-S", "--max-time", "120", "-o", bodyFile.path, "-D", headerFile.path, "-w", "%{http_code}"]
            + arguments + [base + path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let status = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        var headers: [String: String] = [:]
        for line in (try? String(contentsOf: headerFile, encoding: .utf8))?.split(separator: "\r\n") ?? [] {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return Response(status: Int(status) ?? 0, headers: headers, body: (try? Data(contentsOf: bodyFile)) ?? Data())
    }

    /// POSTs a file as the raw body.
    func post(_ path: String, file: URL, _ extra: [String] = []) throws -> Response {
        try curl(path, ["-X", "POST", "-H", "Content-Type: application/octet-stream", "--data-binary", "@\(file.path)"] + extra)
    }
}

/// Width and height from a PNG's IHDR chunk.
func pngSize(_ data: Data) -> (Int, Int)? {
    let bytes = [UInt8](data)
    guard bytes.count > 24, bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) else { return nil }
    func int(_ o: Int) -> Int { (0..<4).reduce(0) { $0 << 8 | Int(bytes[o + $1]) } }
    return (int(16), int(20))
}
