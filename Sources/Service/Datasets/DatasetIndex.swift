import CNN
import Foundation

/// Which datasets exist and where their images lie: the dataset store's metadata, apart from
/// unpacking. A folder of manifests by default (`FolderDatasetIndex`); PostgreSQL when replicas
/// share it (`PostgresDatasetIndex`).
package protocol DatasetIndex: AnyObject, Sendable {
    /// Where an upload unpacks before `add` puts it in place, on the same volume as the datasets.
    var stagingRoot: URL { get }
    func all() throws -> [Dataset]
    /// A dataset's metadata, or nil when none is stored under `id`.
    func dataset(_ id: String) throws -> Dataset?
    /// The folder that holds a dataset's class folders.
    func directory(of dataset: Dataset) throws -> URL
    /// Moves a complete, unpacked dataset (class folders in `staging`) into the store and lists it.
    func add(_ dataset: Dataset, from staging: URL) throws
    /// Unlists a dataset, then removes its images.
    func remove(_ id: String) throws
    /// Bytes the stored datasets take on disk, for `max_dataset_bytes`.
    func storedBytes() throws -> Int
}

/// Datasets as folders: `datasets/<id>/` holds its class folders and `dataset.json`.
final class FolderDatasetIndex: DatasetIndex, Sendable {
    static let manifestFile = "dataset.json"
    let root: URL

    init(root: URL) throws {
        self.root = root
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        // Uploads a stop interrupted: never listed, so nothing refers to them.
        for name in try FileManager.default.contentsOfDirectory(atPath: root.path) where name.hasPrefix(".staging-") {
            try? FileManager.default.removeItem(at: root.appendingPathComponent(name))
        }
    }

    var stagingRoot: URL { root }

    func all() throws -> [Dataset] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().compactMap { try? dataset($0) }
    }

    func dataset(_ id: String) throws -> Dataset? {
        guard let data = FileManager.default.contents(atPath: root.appendingPathComponent(id)
            .appendingPathComponent(Self.manifestFile).path) else { return nil }
        return try StoredJSON.decoder.decode(Dataset.self, from: data)
    }

    func directory(of dataset: Dataset) throws -> URL { root.appendingPathComponent(dataset.id) }

    func add(_ dataset: Dataset, from staging: URL) throws {
        try AtomicFile.write(StoredJSON.encoder.encode(dataset), to: staging.appendingPathComponent(Self.manifestFile))
        try FileManager.default.moveItem(at: staging, to: root.appendingPathComponent(dataset.id))
    }

    /// Removes the manifest first, so a crash halfway leaves a folder that is not listed.
    func remove(_ id: String) throws {
        let folder = root.appendingPathComponent(id)
        try FileManager.default.removeItem(at: folder.appendingPathComponent(Self.manifestFile))
        try FileManager.default.removeItem(at: folder)
    }

    /// Bytes of every file under the datasets folder, staging folders included.
    func storedBytes() throws -> Int { FileTree.bytes(under: root) }
}

enum FileTree {
    /// Bytes of every regular file under `root` (a folder's own size, its entries, is not counted).
    static func bytes(under root: URL) -> Int {
        let keys: Set<URLResourceKey> = [.fileSizeKey, .isRegularFileKey]
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: Array(keys)) else { return 0 }
        return walker.compactMap { item -> Int? in
            guard let values = try? (item as? URL)?.resourceValues(forKeys: keys), values.isRegularFile == true else { return nil }
            return values.fileSize
        }.reduce(0, +)
    }
}
