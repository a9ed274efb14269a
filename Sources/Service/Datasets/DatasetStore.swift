import CNN
import Foundation
import Imaging

/// Datasets on disk under `data/datasets/<id>/`: one folder per class and `dataset.json`.
///
/// An upload is unpacked into a hidden staging folder and renamed into place once complete,
/// so a listed dataset is never half-written.
final class DatasetStore: @unchecked Sendable {
    static let manifestFile = "dataset.json"
    let root: URL
    private let limits: ArchiveLimits
    private let imageLimits: DecodingLimits

    init(root: URL, limits: ArchiveLimits, imageLimits: DecodingLimits) throws {
        self.root = root
        self.limits = limits
        self.imageLimits = imageLimits
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: root.path) where name.hasPrefix(".staging-") {
            try? FileManager.default.removeItem(at: root.appendingPathComponent(name))
        }
    }

    /// Unpacks a ZIP archive in ImageFolder layout, keeping only the entries that decode as images.
    func create(archive data: Data) throws -> Dataset {
        guard ZipArchive.isZip(data) else {
            let gzip = data.starts(with: [0x1F, 0x8B])
            throw ArchiveError(.unsupported, gzip ? "tar.gz archives are not accepted; upload a ZIP archive with one folder per class"
                                                  : "the body is not a ZIP archive; upload a ZIP archive with one folder per class")
        }
        let archive = try ZipArchive(data, limits: limits)
        let files = archive.entries.filter { !$0.isDirectory }
        let depth = DatasetStore.wrapperDepth(files.map(\.components))
        let id = "ds-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let staging = root.appendingPathComponent(".staging-\(id)")
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
                let bytes = try archive.contents(of: entry)
                guard let format = ImageFormat(sniffing: bytes), (try? ImageDecoder.decode(bytes, limits: imageLimits)) != nil else {
                    skipped += 1
                    continue
                }
                let label = components[0]
                let index = counts[label, default: 0]
                let folder = staging.appendingPathComponent(label)
                if index == 0 { try manager.createDirectory(at: folder, withIntermediateDirectories: true) }
                try bytes.write(to: folder.appendingPathComponent(String(format: "%06d.%@", index, format == .png ? "png" : "jpg")))
                counts[label] = index + 1
            }
            guard !counts.isEmpty else {
                throw ArchiveError(.corrupt, "the archive holds no images in class folders (expected <class>/<image> entries)")
            }
            guard counts.count >= 2 else {
                throw ArchiveError(.corrupt, "the archive holds one class ('\(counts.keys.first!)'); a classifier needs at least two")
            }
            let dataset = Dataset(id: id, classes: counts.keys.sorted(), counts: counts, skipped: skipped, created: Date())
            try AtomicFile.write(StoredJSON.encoder.encode(dataset), to: staging.appendingPathComponent(DatasetStore.manifestFile))
            try manager.moveItem(at: staging, to: root.appendingPathComponent(id))
            return dataset
        } catch {
            try? manager.removeItem(at: staging)
            throw error
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

    var all: [Dataset] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().compactMap { try? dataset($0) }
    }

    func dataset(_ id: String) throws -> Dataset {
        guard DatasetStore.isValidID(id),
              let data = FileManager.default.contents(atPath: directory(id).appendingPathComponent(DatasetStore.manifestFile).path) else {
            throw ServiceError.notFound("no dataset '\(id)'")
        }
        return try StoredJSON.decoder.decode(Dataset.self, from: data)
    }

    func directory(_ id: String) -> URL { root.appendingPathComponent(id) }

    /// Removes the manifest first, so a crash halfway leaves a folder that is not listed.
    func remove(_ id: String) throws {
        _ = try dataset(id)
        try FileManager.default.removeItem(at: directory(id).appendingPathComponent(DatasetStore.manifestFile))
        try FileManager.default.removeItem(at: directory(id))
    }

    static func isValidID(_ id: String) -> Bool {
        id.hasPrefix("ds-") && id.count <= 40 && id.utf8.allSatisfy { $0 == UInt8(ascii: "-") || (48...57).contains($0) || (97...122).contains($0) }
    }
}
