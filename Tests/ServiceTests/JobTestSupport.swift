import Foundation
import Imaging
import Service
import XCTest

/// The shared service harness, restartable on the same data folder, with the archives and
/// requests the dataset and job tests send.
final class JobTestHarness {
    private(set) var harness: ServiceHarness

    init() throws {
        harness = try ServiceHarness()
    }

    var dataDirectory: URL { harness.dataDirectory }
    var baseURL: String { harness.base }

    /// Stops the service object and starts a new one on the same data folder.
    func restart(configure: (inout ServiceConfiguration) -> Void = { _ in }) throws {
        harness.service.shutdown(grace: 1)
        harness = try ServiceHarness(configure, dataDirectory: harness.dataDirectory)
    }

    func stop() {
        harness.stop()
    }

    func request(_ method: String, _ path: String, body: Data? = nil, contentType: String? = nil) throws -> ServiceHarness.Response {
        var arguments = ["-X", method]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("body-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        // An empty body still needs its Content-Length: 0, which the server requires of a POST.
        try (body ?? Data()).write(to: file)
        if body != nil || method == "POST" { arguments += ["--data-binary", "@\(file.path)"] }
        if let contentType { arguments += ["-H", "Content-Type: \(contentType)"] }
        return try harness.curl(path, arguments)
    }

    /// Status and seconds of `count` POSTs of `body` to `path`, sent by one curl process on
    /// one connection so that process start-up does not count.
    func timedPosts(_ path: String, body: Data, contentType: String, count: Int) throws -> [(status: Int, seconds: Double)] {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("body-\(UUID().uuidString)")
        try body.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "-w", "%{http_code} %{time_total}\\n", "-H", "Content-Type: \(contentType)",
                             "--data-binary", "@\(file.path)"]
            + (0..<count).flatMap { _ in ["-o", "/dev/null", baseURL + path] }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count == 2, let status = Int(fields[0]), let seconds = Double(fields[1]) else { return nil }
            return (status, seconds)
        }
    }

    func postJSON(_ path: String, _ object: [String: Any]) throws -> ServiceHarness.Response {
        try request("POST", path, body: JSONSerialization.data(withJSONObject: object), contentType: "application/json")
    }

    func uploadDataset(_ archive: Data) throws -> ServiceHarness.Response {
        try request("POST", "/v1/datasets", body: archive, contentType: "application/zip")
    }

    struct Timeout: Error, CustomStringConvertible {
        var description: String
    }

    /// Polls a job until it reaches one of `states`.
    func waitForJob(_ id: String, states: Set<String>, timeout: TimeInterval = 90) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let job = try request("GET", "/v1/jobs/\(id)").object
            if let state = job["state"] as? String, states.contains(state) { return job }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw Timeout(description: "job \(id) did not reach \(states.sorted()) within \(timeout) s")
    }

    /// Polls a job until it has finished an epoch; its metrics so far.
    func waitForFirstEpoch(_ id: String, timeout: TimeInterval = 60) throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let metrics = (try request("GET", "/v1/jobs/\(id)").object["metrics"] as? [[String: Any]]) ?? []
            if !metrics.isEmpty { return metrics }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw Timeout(description: "job \(id) finished no epoch within \(timeout) s")
    }

    /// A 28x28 gray PNG: a bright bar across the top ("top") or the bottom ("bottom") of a dark
    /// field, with seeded noise, so the two classes differ in a way flips and crops keep.
    static func barImage(top: Bool, seed: Int) throws -> [UInt8] {
        var state = UInt64(seed) &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        func noise() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 59)
        }
        var pixels = [UInt8](repeating: 0, count: 28 * 28)
        let start = 3 + noise() % 4
        for y in 0..<28 {
            let bright = top ? (start..<(start + 8)).contains(y) : ((28 - start - 8)..<(28 - start)).contains(y)
            for x in 0..<28 { pixels[y * 28 + x] = UInt8(min(255, (bright ? 200 : 10) + noise() * 3)) }
        }
        return try PNGEncoder.encode(Image(width: 28, height: 28, channels: 1, pixels: pixels))
    }

    /// Files for an ImageFolder archive: `top/` and `bottom/`, `perClass` images each.
    static func barDataset(perClass: Int, wrapper: String? = nil) throws -> [String: Data] {
        var files: [String: Data] = [:]
        let prefix = wrapper.map { "\($0)/" } ?? ""
        for i in 0..<perClass {
            files["\(prefix)top/\(i).png"] = Data(try barImage(top: true, seed: i))
            files["\(prefix)bottom/\(i).png"] = Data(try barImage(top: false, seed: 1000 + i))
        }
        return files
    }

    /// A ZIP archive built by Python's zipfile, which can also write the hostile archives the
    /// refusal tests need: `symlinks` become Unix symbolic-link entries, and each entry of
    /// `lyingSizes` has its declared uncompressed size replaced in both headers.
    static func zip(_ files: [String: Data], symlinks: [String: String] = [:], lyingSizes: [String: Int] = [:]) throws -> Data {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("zip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var manifest: [[String: Any]] = []
        for (index, (name, data)) in files.sorted(by: { $0.key < $1.key }).enumerated() {
            try data.write(to: folder.appendingPathComponent("\(index)"))
            manifest.append(["name": name, "file": "\(index)", "lie": lyingSizes[name] ?? -1])
        }
        for (name, target) in symlinks { manifest.append(["name": name, "link": target]) }
        try JSONSerialization.data(withJSONObject: manifest).write(to: folder.appendingPathComponent("manifest.json"))
        let script = """
        import io, json, struct, sys, zipfile
        folder = sys.argv[1]
        entries = json.load(open(folder + '/manifest.json'))
        buffer = io.BytesIO()
        lies = {}
        with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as z:
            for e in entries:
                if 'link' in e:
                    info = zipfile.ZipInfo(e['name'])
                    info.create_system = 3
                    info.external_attr = (0o120777 << 16)
                    z.writestr(info, e['link'])
                else:
                    z.write(folder + '/' + e['file'], e['name'])
                    if e['lie'] >= 0:
                        lies[e['name']] = e['lie']
        data = bytearray(buffer.getvalue())
        for name, size in lies.items():
            raw = name.encode()
            for signature, offset in ((b'PK\\x03\\x04', 22), (b'PK\\x01\\x02', 24)):
                at = 0
                while True:
                    at = data.find(signature, at)
                    if at < 0:
                        break
                    name_at = at + (30 if signature == b'PK\\x03\\x04' else 46)
                    if data[name_at:name_at + len(raw)] == raw:
                        struct.pack_into('<I', data, at + offset, size)
                    at += 4
        sys.stdout.buffer.write(bytes(data))
        """
        let process = Process()
        let python = ProcessInfo.processInfo.environment["SALIENT_PYTHON"] ?? "/usr/bin/python3"
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script, folder.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "python could not build the archive")
        return data
    }
}
