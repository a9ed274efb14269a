import CNN
import Foundation
import Synchronization

/// Rendered maps kept on disk under `data/saliency/<id>.png`: at most `capacity` of them and
/// `capacityBytes` together (`saliency_cache_entries`, `saliency_cache_bytes`); the oldest are
/// removed first.
final class SaliencyCache: Sendable {
    let directory: URL
    private let capacity: Int
    private let capacityBytes: Int
    private let entries: Mutex<Entries>

    private struct Entries {
        /// Ids oldest first, with their sizes.
        var order: [(id: String, bytes: Int)]
        var totalBytes: Int

        /// Drops the oldest entries until both capacities hold; returns their ids.
        mutating func evict(capacity: Int, capacityBytes: Int) -> [String] {
            var evicted: [String] = []
            while order.count > capacity || (totalBytes > capacityBytes && !order.isEmpty) {
                let oldest = order.removeFirst()
                totalBytes -= oldest.bytes
                evicted.append(oldest.id)
            }
            return evicted
        }
    }

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
        let order = existing.map { (id: $0.url.deletingPathExtension().lastPathComponent, bytes: $0.bytes) }
        var stored = Entries(order: order, totalBytes: order.reduce(0) { $0 + $1.bytes })
        let evicted = stored.evict(capacity: self.capacity, capacityBytes: self.capacityBytes)
        entries = Mutex(stored)
        remove(evicted)
    }

    /// Stores a PNG and returns its id.
    func store(_ png: [UInt8]) throws -> String {
        let id = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try AtomicFile.write(Data(png), to: directory.appendingPathComponent("\(id).png"))
        let evicted = entries.withLock { entries in
            entries.order.append((id, png.count))
            entries.totalBytes += png.count
            return entries.evict(capacity: capacity, capacityBytes: capacityBytes)
        }
        remove(evicted)
        return id
    }

    func png(id: String) -> Data? {
        guard id.count == 32, id.allSatisfy({ $0.isHexDigit }) else { return nil }
        return FileManager.default.contents(atPath: directory.appendingPathComponent("\(id).png").path)
    }

    /// Entries and bytes held now.
    var usage: (entries: Int, bytes: Int) { entries.withLock { ($0.order.count, $0.totalBytes) } }

    private func remove(_ ids: [String]) {
        for id in ids { try? FileManager.default.removeItem(at: directory.appendingPathComponent("\(id).png")) }
    }
}
