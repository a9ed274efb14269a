import CNN
import Foundation

/// Rendered maps kept on disk under `data/saliency/<id>.png`: at most `capacity` of them and
/// `capacityBytes` together (`saliency_cache_entries`, `saliency_cache_bytes`); the oldest are
/// removed first.
final class SaliencyCache: @unchecked Sendable {
    let directory: URL
    private let capacity: Int
    private let capacityBytes: Int
    private let lock = NSLock()
    /// Ids oldest first, with their sizes.
    private var order: [(id: String, bytes: Int)] = []
    private var totalBytes = 0

    init(directory: URL, capacity: Int, capacityBytes: Int = .max) throws {
        self.directory = directory
        self.capacity = max(capacity, 1)
        self.capacityBytes = max(capacityBytes, 1)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let keys: [URLResourceKey] = [.contentModificationDateKey, .fileSizeKey]
        let existing = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: keys)
            .filter { $0.pathExtension == "png" }
            .map { url -> (url: URL, date: Date, bytes: Int) in
                let values = try? url.resourceValues(forKeys: Set(keys))
                return (url, values?.contentModificationDate ?? .distantPast, values?.fileSize ?? 0)
            }
            .sorted { $0.date < $1.date }
        order = existing.map { ($0.url.deletingPathExtension().lastPathComponent, $0.bytes) }
        totalBytes = order.reduce(0) { $0 + $1.bytes }
        evict()
    }

    /// Stores a PNG and returns its id.
    func store(_ png: [UInt8]) throws -> String {
        let id = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try AtomicFile.write(Data(png), to: directory.appendingPathComponent("\(id).png"))
        lock.withLock {
            order.append((id, png.count))
            totalBytes += png.count
            evict()
        }
        return id
    }

    func png(id: String) -> Data? {
        guard id.count == 32, id.allSatisfy({ $0.isHexDigit }) else { return nil }
        return FileManager.default.contents(atPath: directory.appendingPathComponent("\(id).png").path)
    }

    /// Entries and bytes held now.
    var usage: (entries: Int, bytes: Int) { lock.withLock { (order.count, totalBytes) } }

    private func evict() {
        while order.count > capacity || (totalBytes > capacityBytes && !order.isEmpty) {
            let oldest = order.removeFirst()
            totalBytes -= oldest.bytes
            try? FileManager.default.removeItem(at: directory.appendingPathComponent("\(oldest.id).png"))
        }
    }
}
