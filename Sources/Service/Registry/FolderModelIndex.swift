import CNN
import Foundation

/// The index as folders: `models/<name>/<version>/` holds a version's `card.json` and weights,
/// `models/<name>/model.json` its `ModelState`. A folder laid out before versions existed
/// (`card.json` directly in `models/<name>/`) is version 1 where it lies, so a read-only volume
/// of such folders is served as it is; without `model.json` the highest version is the default
/// and the model is loaded.
final class FolderModelIndex: ModelIndex, Sendable {
    let root: URL
    static let stateFile = "model.json"

    init(root: URL) {
        self.root = root
    }

    func names() throws -> [String] {
        guard FileManager.default.fileExists(atPath: root.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: root.path).filter { name in
            var isDirectory: ObjCBool = false
            return !name.hasPrefix(".") && FileManager.default.fileExists(atPath: folder(name).path, isDirectory: &isDirectory)
                && isDirectory.boolValue
        }.sorted()
    }

    func record(named name: String) throws -> ModelRecord? {
        let folder = folder(name)
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return nil }
        var versions: [(Int, URL)] = entries.compactMap { entry in
            guard let number = Int(entry), number > 0, "\(number)" == entry else { return nil }
            let directory = folder.appendingPathComponent(entry)
            return FileManager.default.fileExists(atPath: directory.appendingPathComponent(Checkpoint.cardFile).path)
                ? (number, directory) : nil
        }
        if entries.contains(Checkpoint.cardFile), !versions.contains(where: { $0.0 == 1 }) { versions.append((1, folder)) }
        versions.sort { $0.0 < $1.0 }
        let records = versions.map { number, directory in
            ModelVersionRecord(version: number, card: Result {
                try ModelCard(json: Data(contentsOf: directory.appendingPathComponent(Checkpoint.cardFile)))
            }, directory: directory)
        }
        let highest = versions.last?.0
        var state = ModelState(defaultVersion: highest, nextVersion: (highest ?? 0) + 1, isLoaded: true)
        if let data = try? Data(contentsOf: folder.appendingPathComponent(Self.stateFile)) {
            let stored = try JSONDecoder().decode(ModelState.self, from: data)
            state.isLoaded = stored.isLoaded
            state.nextVersion = max(stored.nextVersion, state.nextVersion)
            if let chosen = stored.defaultVersion, versions.contains(where: { $0.0 == chosen }) { state.defaultVersion = chosen }
        }
        guard !records.isEmpty || entries.contains(Self.stateFile) else { return nil }
        return ModelRecord(name: name, versions: records, state: state)
    }

    func directory(of name: String, version: Int, files: [String: Data]) -> URL {
        folder(name).appendingPathComponent("\(version)")
    }

    func store(version: Int, of name: String, card: ModelCard, files: [String: Data]) throws -> URL {
        let directory = directory(of: name, version: version, files: files)
        for (file, data) in files.sorted(by: { $0.key < $1.key }) {
            try AtomicFile.write(data, to: directory.appendingPathComponent(file))
        }
        try AtomicFile.write(card.jsonData(), to: directory.appendingPathComponent(Checkpoint.cardFile))
        return directory
    }

    /// One process owns the folder and adds versions under the registry's import lock, so
    /// `proposed` is always free.
    func add(proposed: Int, of name: String, card: ModelCard, files: [String: Data],
             makeDefault: Bool) throws -> (version: ModelVersionRecord, state: ModelState) {
        var state = try record(named: name)?.state ?? ModelState(defaultVersion: nil, nextVersion: proposed, isLoaded: true)
        let directory = try store(version: proposed, of: name, card: card, files: files)
        state.nextVersion = max(state.nextVersion, proposed + 1)
        if makeDefault || state.defaultVersion == nil { state.defaultVersion = proposed }
        try setState(state, of: name)
        return (ModelVersionRecord(version: proposed, card: .success(card), directory: directory), state)
    }

    func setState(_ state: ModelState, of name: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(state), to: folder(name).appendingPathComponent(Self.stateFile))
    }

    func remove(version: Int, of name: String) throws {
        guard let record = try record(named: name)?.version(version) else { return }
        let card = record.directory.appendingPathComponent(Checkpoint.cardFile)
        try? FileManager.default.removeItem(at: card)
        if record.directory == folder(name) {
            // A version laid out before versions existed shares the model's folder with the
            // others: only its own files go, the ones its card named.
            let weights = (try? record.card.get())?.onnxFile ?? Checkpoint.weightsFile
            try? FileManager.default.removeItem(at: record.directory.appendingPathComponent(weights))
        } else {
            try FileManager.default.removeItem(at: record.directory)
        }
    }

    func remove(name: String) throws {
        let folder = folder(name)
        // Every card first, so a crash halfway leaves a folder that does not load.
        for version in (try record(named: name)?.versions ?? []) {
            try? FileManager.default.removeItem(at: version.directory.appendingPathComponent(Checkpoint.cardFile))
        }
        try FileManager.default.removeItem(at: folder)
    }

    private func folder(_ name: String) -> URL { root.appendingPathComponent(name) }
}

/// The layout of a model folder in the data folder, for tools that open one directly.
public enum ModelFolder {
    /// The folder of the default version of the model stored in `folder` (`data/models/NAME`);
    /// nil when it holds no version.
    public static func defaultVersion(of folder: URL) -> URL? {
        let index = FolderModelIndex(root: folder.deletingLastPathComponent())
        guard let record = try? index.record(named: folder.lastPathComponent),
              let version = record.state.defaultVersion.flatMap(record.version) else { return nil }
        return version.directory
    }
}
