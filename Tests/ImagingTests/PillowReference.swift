import Foundation
import XCTest

/// Runs scripts/pillow_reference.py through $SALIENT_PYTHON (set by `make test`) and reads
/// back what it wrote, so decoder and resampler outputs are compared with Pillow pixel by pixel.
struct PillowReference {
    let folder: URL

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The shared test images, found beside the nearest ancestor of this file that has a
    /// `shared/data` folder, so a fresh clone next to `shared/` works wherever it lives.
    static func sharedImages() throws -> URL {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("shared/data/images")
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        throw XCTSkip("no shared/data/images beside any ancestor of \(#filePath)")
    }

    static func python() throws -> String {
        if let path = ProcessInfo.processInfo.environment["SALIENT_PYTHON"], !path.isEmpty { return path }
        let local = repositoryRoot.appendingPathComponent(".venv/bin/python").path
        if FileManager.default.isExecutableFile(atPath: local) { return local }
        throw XCTSkip("SALIENT_PYTHON is not set and there is no .venv; run through `make test`")
    }

    /// Runs the jobs (see the script's docstring) in a fresh temporary folder.
    static func run(_ jobs: [[String: Any]]) throws -> PillowReference {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("imaging-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try python())
        process.arguments = [repositoryRoot.appendingPathComponent("scripts/pillow_reference.py").path, folder.path]
        let input = Pipe()
        process.standardInput = input
        try process.run()
        input.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: jobs))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw NSError(domain: "PillowReference", code: Int(process.terminationStatus),
                          userInfo: [NSLocalizedDescriptionKey: "pillow_reference.py failed"])
        }
        return PillowReference(folder: folder)
    }

    func url(_ name: String) -> URL { folder.appendingPathComponent(name) }

    func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: url(name))) }

    /// Reads a binary PPM (P6) or PGM (P5) with maxval 255.
    func pnm(_ name: String) throws -> (width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        let data = try bytes(name)
        var fields: [String] = []
        var index = 0
        while fields.count < 4 {
            while data[index] == 0x20 || data[index] == 0x0A { index += 1 }
            let start = index
            while data[index] != 0x20 && data[index] != 0x0A { index += 1 }
            fields.append(String(decoding: data[start..<index], as: UTF8.self))
        }
        index += 1
        return (Int(fields[1])!, Int(fields[2])!, fields[0] == "P6" ? 3 : 1, Array(data[index...]))
    }

    func floats(_ name: String) throws -> [Float] {
        try Data(contentsOf: url(name)).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }
}

func meanAbsoluteDifference(_ a: [UInt8], _ b: [UInt8]) -> Double {
    precondition(a.count == b.count)
    var total = 0
    for i in a.indices { total += abs(Int(a[i]) - Int(b[i])) }
    return Double(total) / Double(max(a.count, 1))
}

func maxAbsoluteDifference(_ a: [UInt8], _ b: [UInt8]) -> Int {
    zip(a, b).map { abs(Int($0) - Int($1)) }.max() ?? 0
}
