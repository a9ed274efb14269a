import CNN
import Foundation

/// Rendered maps kept on disk under `data/saliency/<id>.png`, at most `capacity` of them;
/// the oldest are removed first.
final class SaliencyCache: @unchecked Sendable {
    let directory: URL
    private let capacity: Int
    private let lock = NSLock()
    private var order: [String] = []

    init(directory: URL, capacity: Int) throws {
        self.directory = directory
        self.capacity = max(capacity, 1)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let existing = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: [.contentModificationDateKey])
            .filter { $0.pathExtension == "png" }
            .sorted { a, b in
                let da = (try? a.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast
                let db = (try? b.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast
                return da < db
            }
        order = existing.map { $0.deletingPathExtension().lastPathComponent }
        evict()
    }

    /// Stores a PNG and returns its id.
    func store(_ png: [UInt8]) throws -> String {
        let id = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try AtomicFile.write(Data(png), to: directory.appendingPathComponent("\(id).png"))
        lock.withLock {
            order.append(id)
            evict()
        }
        return id
    }

    func png(id: String) -> Data? {
        guard id.count == 32, id.allSatisfy({ $0.isHexDigit }) else { return nil }
        return FileManager.default.contents(atPath: directory.appendingPathComponent("\(id).png").path)
    }

    private func evict() {
        while order.count > capacity {
            let id = order.removeFirst()
            try? FileManager.default.removeItem(at: directory.appendingPathComponent("\(id).png"))
        }
    }
}
