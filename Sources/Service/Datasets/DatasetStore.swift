import CNN
import Foundation
import Imaging
import Synchronization

/// Datasets: uploads unpacked into one folder per class, listed in a `DatasetIndex`.
///
/// An upload is unpacked into a hidden staging folder and moved into place once complete,
/// so a listed dataset is never half-written. Every image is stored re-encoded from its decoded
/// pixels (PNG as PNG, JPEG as JPEG at quality 95 without chroma subsampling), upright, so what
/// an upload writes to disk is bounded by the pixels it holds: bytes after the image's end,
/// metadata segments and unknown chunks are never stored. Uploads within `max_datasets` and
/// `max_dataset_bytes` only; one at a time, so the quota holds.
final class DatasetStore: Sendable {
    let index: DatasetIndex
    private let limits: ArchiveLimits
    private let images: ImagePreparation
    private let budgets: ResourceBudgets
    /// Set while an upload unpacks.
    private let uploading = Atomic(false)

    init(index: DatasetIndex, limits: ArchiveLimits, images: ImagePreparation, budgets: ResourceBudgets) {
        self.index = index
        self.limits = limits
        self.images = images
        self.budgets = budgets
    }

    /// Unpacks a ZIP archive in ImageFolder layout, keeping only the entries that decode as images.
    func create(archive data: Data) throws -> Dataset {
        guard ZipArchive.isZip(data) else {
            let gzip = data.starts(with: [0x1F, 0x8B])
            throw ArchiveError(.unsupported, gzip ? "tar.gz archives are not accepted; upload a ZIP archive with one folder per class"
                                                  : "the body is not a ZIP archive; upload a ZIP archive with one folder per class")
        }
        let archive = try ZipArchive(data, limits: limits)
        // One upload at a time, so the quotas hold; another is told to come back rather than
        // hold its archive in memory while it waits.
        guard uploading.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            throw BudgetError.busy("another dataset is being unpacked; one upload runs at a time", setting: nil, retryAfterSeconds: 2)
        }
        defer { uploading.store(false, ordering: .releasing) }
        let existing = try index.all()
        guard existing.count < budgets.maxDatasets else {
            throw BudgetError.quota("the server holds \(existing.count) datasets, its limit; delete one first", setting: "max_datasets")
        }
        var room = budgets.maxDatasetBytes - (try index.storedBytes())
        let files = archive.entries.filter { !$0.isDirectory }
        let depth = DatasetStore.wrapperDepth(files.map(\.components))
        let id = "ds-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let staging = index.stagingRoot.appendingPathComponent(".staging-\(id)")
        let manager = FileManager.default
        try manager.createDirectory(at: staging, withIntermediateDirectories: true)
        do {
            var counts: [String: Int] = [:]
            var skipped = 0
            for entry in files {
                let components = Array(entry.components.dropFirst(depth))
                guard components.count >= 2, !components.contains(where: { $0.hasPrefix(".") || $0 == "__MACOSX" }) else {
                    skipped += 1
                    continue
                }
                guard let (stored, format) = try reencoded(try archive.contents(of: entry)) else {
                    skipped += 1
                    continue
                }
                room -= stored.count
                guard room >= 0 else {
                    throw BudgetError.quota("the datasets would take more than \(budgets.maxDatasetBytes) bytes on disk; delete one first",
                                              setting: "max_dataset_bytes")
                }
                let label = components[0]
                let index = counts[label, default: 0]
                let folder = staging.appendingPathComponent(label)
                if index == 0 { try manager.createDirectory(at: folder, withIntermediateDirectories: true) }
                try AtomicFile.write(Data(stored), to: folder.appendingPathComponent(String(format: "%06d.%@", index, format == .png ? "png" : "jpg")))
                counts[label] = index + 1
            }
            guard !counts.isEmpty else {
                throw ArchiveError(.corrupt, "the archive holds no images in class folders (expected <class>/<image> entries)")
            }
            guard counts.count >= 2 else {
                throw ArchiveError(.corrupt, "the archive holds one class ('\(counts.keys.first!)'); a classifier needs at least two")
            }
            let dataset = Dataset(id: id, classes: counts.keys.sorted(), counts: counts, skipped: skipped, created: Date())
            try index.add(dataset, from: staging)
            return dataset
        } catch {
            try? manager.removeItem(at: staging)
            throw error
        }
    }

    /// The image re-encoded from its decoded, upright pixels, or nil when the bytes are not an
    /// image within the limits (such entries are skipped, as non-images are). The decode holds
    /// its share of the image memory like any request's.
    private func reencoded(_ bytes: Data) throws -> ([UInt8], ImageFormat)? {
        guard let plan = try? ImageDecoder.plan(bytes, limits: images.limits) else { return nil }
        return try images.memory.withReservation(plan.peakBytes + plan.outputBytes) {
            guard let image = try? ImageDecoder.decode(bytes, limits: images.limits) else { return nil }
            switch plan.format {
            case .png: return (try PNGEncoder.encode(image), .png)
            case .jpeg: return (try JPEGEncoder.encode(image, quality: 95, subsampled: false), .jpeg)
            }
        }
    }

    /// How many leading folders every file shares beyond the class level: 1 when the archive
    /// wraps its class folders in a single top-level folder, else 0.
    static func wrapperDepth(_ paths: [[String]]) -> Int {
        let meaningful = paths.filter { !$0.contains { $0.hasPrefix(".") || $0 == "__MACOSX" } }
        guard let first = meaningful.first?.first,
              meaningful.allSatisfy({ $0.count >= 3 && $0[0] == first }) else { return 0 }
        return 1
    }

    func all() throws -> [Dataset] { try index.all() }

    func dataset(_ id: String) throws -> Dataset {
        guard DatasetStore.isValidID(id), let dataset = try index.dataset(id) else { throw ServiceError.notFound("no dataset '\(id)'") }
        return dataset
    }

    /// The folder of a dataset's class folders.
    func directory(_ id: String) throws -> URL { try index.directory(of: dataset(id)) }

    func remove(_ id: String) throws {
        _ = try dataset(id)
        try index.remove(id)
    }

    static func isValidID(_ id: String) -> Bool {
        id.hasPrefix("ds-") && id.count <= 40 && id.utf8.allSatisfy { $0 == UInt8(ascii: "-") || (48...57).contains($0) || (97...122).contains($0) }
    }
}
