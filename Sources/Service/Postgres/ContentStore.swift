import CNN
import Foundation

/// Folders in the shared volume named by the SHA-256 of what they hold (`objects/<hex>/`): two
/// replicas storing the same content write the same folder, and different content never
/// shares a path. A folder is written in a staging folder beside it, every file synced, and
/// renamed into place whole, so it is either absent or complete.
package struct ContentStore {
    package let root: URL

    package init(root: URL) throws {
        self.root = root
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    /// Spelled as a directory whether or not it exists yet (Foundation adds the trailing slash
    /// to an existing folder only), so one address is always one equal URL.
    package func folder(_ address: String) -> URL { root.appendingPathComponent(address, isDirectory: true) }

    /// The address of a set of named files: SHA-256 over their names and their own SHA-256s.
    static func address(of files: [String: Data]) -> String {
        address(of: files.map { ($0.key, Checksum.sha256($0.value)) })
    }

    static func address(of digests: [(name: String, sha256: String)]) -> String {
        let manifest = digests.sorted { $0.name < $1.name }.map { "\($0.name)\u{0}\($0.sha256)\n" }.joined()
        return Checksum.sha256(Data(manifest.utf8))
    }

    /// Stores flat files (a model version's weights); returns their folder.
    func put(_ files: [String: Data]) throws -> URL {
        let address = Self.address(of: files)
        guard !FileManager.default.fileExists(atPath: folder(address).path) else { return folder(address) }
        let staging = stagingFolder()
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        for (name, data) in files { try AtomicFile.write(data, to: staging.appendingPathComponent(name)) }
        return try place(staging, at: address)
    }

    /// A fresh folder to build a tree in before `put(tree:)`.
    func stagingFolder() -> URL { root.appendingPathComponent(".staging-\(UUID().uuidString.lowercased())") }

    /// Moves a staged tree (a dataset's class folders) into place under its address; returns
    /// the address.
    func put(tree staging: URL) throws -> String {
        let address = Self.address(of: try Self.digests(under: staging))
        _ = try place(staging, at: address)
        return address
    }

    private func place(_ staging: URL, at address: String) throws -> URL {
        let target = folder(address)
        if rename(staging.path, target.path) != 0 {
            // Another replica placed the same content first: theirs is as good.
            try? FileManager.default.removeItem(at: staging)
            guard FileManager.default.fileExists(atPath: target.path) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: target.path])
            }
        }
        let fd = open(root.path, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
        return target
    }

    func remove(_ address: String) {
        try? FileManager.default.removeItem(at: folder(address))
    }

    /// Every regular file under `folder`, by path relative to it, with its SHA-256.
    static func digests(under folder: URL) throws -> [(name: String, sha256: String)] {
        let base = folder.standardizedFileURL.path + "/"
        var digests: [(String, String)] = []
        guard let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
        for case let url as URL in walker where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            let path = url.standardizedFileURL.path
            digests.append((path.hasPrefix(base) ? String(path.dropFirst(base.count)) : path, Checksum.sha256(try Data(contentsOf: url))))
        }
        return digests
    }
}
