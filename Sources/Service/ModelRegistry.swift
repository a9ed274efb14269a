import CNN
import Foundation
import HTTPServer
import Logging
import Synchronization

/// The models the service stores and serves, by name and version.
///
/// Uploading a model under a name in use adds a version; a model has a default version, which
/// serves requests that name none, and every other version stays servable by number until it
/// is deleted. What is stored (names, versions, cards, the default, whether a model is loaded)
/// lives in a `ModelIndex`; every version of a loaded model is kept in memory, ready. A version
/// whose weights do not match its card's SHA-256, or that does not import, is refused with a
/// logged reason, listed as unavailable with that reason, and never served.
final class ModelRegistry: Sendable {
    let index: ModelIndex
    private let configuration: ServiceConfiguration
    let logger: Logger
    private let entries = Mutex<[String: Entry]>([:])
    /// The threads every model computes on.
    let threads: ComputeThreads
    /// One import at a time: a second upload is answered 503 at once rather than holding its body
    /// (up to `max_upload_bytes`) while it waits. Version numbers are taken under it. A lock that
    /// guards no value but a stretch of work (import, store, load), tried or waited for.
    private let importing = NSLock()

    /// A stored model and the versions of it in memory.
    struct Entry {
        var record: ModelRecord
        /// Every version that loaded; none while the model is unloaded.
        var loaded: [Int: LoadedModel] = [:]
        /// Why a stored version is not served.
        var failures: [Int: String] = [:]

        var name: String { record.name }
        var defaultModel: LoadedModel? { record.state.defaultVersion.flatMap { loaded[$0] } }
    }

    init(configuration: ServiceConfiguration, logger: Logger, index: ModelIndex? = nil) {
        self.index = index ?? FolderModelIndex(root: configuration.dataURL.appendingPathComponent("models"))
        self.configuration = configuration
        threads = ComputeThreads(count: configuration.inferenceThreads)
        self.logger = logger
    }

    static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.count <= 64 else { return false }
        let allowed = CharacterSet.lowercaseLetters.union(.decimalDigits).union(CharacterSet(charactersIn: "-_."))
        return CharacterSet.lowercaseLetters.union(.decimalDigits).contains(first)
            && name.unicodeScalars.allSatisfy { allowed.contains($0) && $0.isASCII }
    }

    /// Stores the bundled models that are not stored yet, as their version 1, then loads every
    /// stored model.
    func start(bundledModels: URL?) throws {
        if let bundledModels, let names = try? FileManager.default.contentsOfDirectory(atPath: bundledModels.path) {
            for name in names.sorted() where try index.record(named: name) == nil {
                try install(from: bundledModels.appendingPathComponent(name), as: name)
            }
        }
        for name in try index.names() {
            do {
                try reload(name)
            } catch {
                logger.error("refused model", metadata: ["model": "\(name)", "reason": "\(error)"])
            }
        }
    }

    /// Stores a model folder (its card and weights) as version 1.
    private func install(from source: URL, as name: String) throws {
        let card = try ModelCard(json: Data(contentsOf: source.appendingPathComponent(Checkpoint.cardFile)))
        var files: [String: Data] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: source.path) where file != Checkpoint.cardFile {
            files[file] = try Data(contentsOf: source.appendingPathComponent(file))
        }
        _ = try index.store(version: 1, of: name, card: card, files: files)
        try index.setState(ModelState(defaultVersion: 1, nextVersion: 2, isLoaded: true), of: name)
    }

    /// Reads a model from the index and, when it is loaded, every version into memory, replacing
    /// what memory held; a version that fails is listed with its reason. Versions in `reusing`
    /// whose files are where the index says are kept as they are instead of imported again.
    @discardableResult
    private func reload(_ name: String, record: ModelRecord?? = nil, reusing current: Entry? = nil) throws -> Entry? {
        guard let record = try record ?? index.record(named: name) else {
            entries.withLock { _ = $0.removeValue(forKey: name) }
            return nil
        }
        var entry = Entry(record: record)
        if record.state.isLoaded {
            for version in record.versions {
                if let current, let model = current.loaded[version.version], model.directory == version.directory {
                    entry.loaded[version.version] = model
                    continue
                }
                do {
                    let model = try load(version, of: name)
                    entry.loaded[version.version] = model
                    logger.info("loaded model", metadata: ["model": "\(name)", "version": "\(version.version)",
                                                           "format": "\(model.format)"])
                } catch {
                    entry.failures[version.version] = "\(error)"
                    logger.error("refused model", metadata: ["model": "\(name)", "version": "\(version.version)",
                                                             "reason": "\(error)"])
                }
            }
        }
        let loaded = entry
        entries.withLock { $0[name] = loaded }
        return entry
    }

    /// Brings one model in memory in line with the index, when another replica changed it:
    /// versions added are loaded, versions removed dropped, the default and loaded state taken
    /// over. Changes on this replica serialize with it (the import lock).
    func synchronize(_ name: String) throws {
        importing.lock()
        defer { importing.unlock() }
        let record = try index.record(named: name)
        let current = entries.withLock { $0[name] }
        switch (record, current) {
        case (nil, nil): return
        case let (record?, current?) where record.matches(current.record): return
        default: break
        }
        if record == nil { logger.info("model removed elsewhere", metadata: ["model": "\(name)"]) }
        try reload(name, record: .some(record), reusing: current)
    }

    /// Every model in line with the index: the periodic reconciliation behind the notifications.
    func synchronizeAll() throws {
        let names = Set(try index.names()).union(entries.withLock { Array($0.keys) })
        for name in names.sorted() { try synchronize(name) }
    }

    private func load(_ version: ModelVersionRecord, of name: String) throws -> LoadedModel {
        let card = try version.card.get()
        guard card.name == name else { throw GraphError(node: name, "the card names the model '\(card.name)'") }
        let weightsFile = card.onnxFile ?? Checkpoint.weightsFile
        guard !weightsFile.contains("/") else { throw GraphError(node: name, "the card's weights file leaves the folder") }
        let weights = try Data(contentsOf: version.directory.appendingPathComponent(weightsFile))
        guard let expected = card.weightsSHA256 else { throw GraphError(node: name, "the card has no weights checksum") }
        let actual = Checksum.sha256(weights)
        guard actual == expected else {
            throw GraphError(node: name, "weights checksum \(actual) does not match the card's \(expected)")
        }
        return try LoadedModel(card: card, version: version.version, graph: ModelFormats.graph(card: card, weights: weights),
                               directory: version.directory, configuration: configuration, threads: threads)
    }

    /// The model `name` at `version` (its number, as a path gives it), or at its default version
    /// when nil: 404 when it is not stored, unloaded, or that version did not load.
    func model(named name: String, version: String? = nil) throws -> LoadedModel {
        let entry = try self.entry(named: name)
        guard entry.record.state.isLoaded else {
            throw ServiceError.notFound("model '\(name)' is unloaded; POST /v2/repository/models/\(name)/load loads it")
        }
        guard let version else {
            guard let number = entry.record.state.defaultVersion, let model = entry.loaded[number] else {
                let reason = entry.record.state.defaultVersion.flatMap { entry.failures[$0] } ?? "it has no version"
                throw ServiceError.notFound("model '\(name)' has no servable default version: \(reason)")
            }
            return model
        }
        guard let number = Int(version), let model = entry.loaded[number] else {
            if let number = Int(version), let reason = entry.failures[number] {
                throw ServiceError.notFound("version \(number) of model '\(name)' did not load: \(reason)")
            }
            throw ServiceError.notFound("model '\(name)' has no version '\(version)'; its versions are "
                + entry.record.versions.map { "\($0.version)" }.joined(separator: ", "))
        }
        return model
    }

    /// A stored model, loaded or not.
    func entry(named name: String) throws -> Entry {
        guard let entry = entries.withLock({ $0[name] }) else { throw ServiceError.notFound("no model named '\(name)'") }
        return entry
    }

    /// Every stored model, by name.
    var entriesByName: [Entry] { entries.withLock { entries in entries.values.sorted { $0.name < $1.name } } }

    /// The default version of every loaded model, by name.
    var all: [LoadedModel] { entriesByName.compactMap(\.defaultModel) }

    /// Every loaded version of every model, by name and version.
    var allVersions: [LoadedModel] {
        entriesByName.flatMap { entry in entry.loaded.sorted { $0.key < $1.key }.map(\.value) }
    }

    var defaultModel: LoadedModel? { try? model(named: configuration.defaultModel) }

    /// What an uploaded ONNX file may compute while it is imported, and for how long.
    var importBudget: ONNXImportBudget {
        let budgets = configuration.budgets
        return ONNXImportBudget(maxWork: budgets.maxImportWork, maxConstantBytes: budgets.maxImportConstantBytes,
                                maxSeconds: budgets.maxImportSeconds, maxNodes: budgets.maxImportNodes,
                                settingNames: [.work: "max_import_work", .constantBytes: "max_import_constant_bytes",
                                               .seconds: "max_import_seconds", .nodes: "max_import_nodes"])
    }

    /// Stores a model as the next version of `card.name` (its first when the name is new) and
    /// serves it at once, as the default version unless `makeDefault` is false. An upload
    /// (`waitForImport` false) is refused with 503 while another import runs; a finished job
    /// waits its turn.
    func register(card: ModelCard, files: [String: Data], waitForImport: Bool = false, makeDefault: Bool = true) throws -> LoadedModel {
        let name = card.name
        guard ModelRegistry.isValidName(name) else {
            throw ServiceError.badParameter("model names are 1 to 64 lowercase letters, digits, '-', '_' or '.'")
        }
        try checkRoom(for: name)
        if waitForImport {
            importing.lock()
        } else if !importing.try() {
            throw BudgetError.busy("another model is being imported; one import runs at a time", setting: nil,
                                     retryAfterSeconds: 2)
        }
        defer { importing.unlock() }
        // Registrations here all hold the import lock, so none of this replica's can take this
        // number meanwhile; the index is asked too, for a version stored elsewhere since.
        let stored = try index.record(named: name)?.state.nextVersion ?? 1
        let proposed = max(stored, entries.withLock { $0[name]?.record.state.nextVersion } ?? 1)
        let weights = files[card.onnxFile ?? Checkpoint.weightsFile] ?? Data()
        var card = card
        card.weightsSHA256 = Checksum.sha256(weights)
        var model = try LoadedModel(card: card, version: proposed,
                                    graph: ModelFormats.graph(card: card, weights: weights, budget: importBudget),
                                    directory: index.directory(of: name, version: proposed, files: files),
                                    configuration: configuration, threads: threads)
        let version = try entries.withLock { entries in
            // Checked again: another change may have finished while this one imported.
            try checkRoom(for: name, in: entries)
            let (version, state) = try index.add(proposed: proposed, of: name, card: card, files: files, makeDefault: makeDefault)
            if version.version != proposed || version.directory != model.directory {
                // Another replica added a version of this model at the same moment and took the number.
                model = LoadedModel(renumbering: model, as: version.version, directory: version.directory)
            }
            var entry = entries[name] ?? Entry(record: ModelRecord(name: name, versions: [], state: state))
            entry.record.versions.append(version)
            entry.record.versions.sort { $0.version < $1.version }
            entry.record.state = state
            entry.loaded[version.version] = model
            entries[name] = entry
            return version.version
        }
        logger.info("registered model", metadata: ["model": "\(name)", "version": "\(version)"])
        return model
    }

    /// The version of `name` that the job `job` registered, as the index stores it now (another
    /// replica may have registered it), or nil.
    func storedVersion(of name: String, madeBy job: String) throws -> Int? {
        try index.record(named: name)?.versions.first { version in
            (try? version.card.get())?.provenance["job"] == .string(job)
        }?.version
    }

    /// Refuses, before anything is imported, a new name when the registry holds `max_models`, a
    /// new version of a model at `max_model_versions`, and a version of an unloaded model.
    func checkRoom(for name: String) throws {
        try entries.withLock { try checkRoom(for: name, in: $0) }
    }

    private func checkRoom(for name: String, in entries: [String: Entry]) throws {
        let budgets = configuration.budgets
        guard let entry = entries[name] else {
            guard entries.count < budgets.maxModels else {
                throw BudgetError.quota("the server holds \(budgets.maxModels) models, its limit; delete one first",
                                        setting: "max_models")
            }
            return
        }
        guard entry.record.state.isLoaded else {
            throw ServiceError.conflict("model '\(name)' is unloaded; load it (POST /v2/repository/models/\(name)/load) "
                + "before adding a version")
        }
        guard entry.record.versions.count < budgets.maxModelVersions else {
            throw BudgetError.quota("model '\(name)' has \(entry.record.versions.count) versions, its limit; delete one first "
                + "(DELETE /v1/models/\(name)/versions/{version})", setting: "max_model_versions")
        }
    }

    /// Removes a model and every version of it.
    func remove(_ name: String) throws {
        _ = try entry(named: name)
        guard name != configuration.defaultModel else {
            throw ServiceError.conflict("'\(name)' is the default model and cannot be deleted")
        }
        try entries.withLock { entries in
            entries.removeValue(forKey: name)
            try index.remove(name: name)
        }
    }

    /// Removes one version; the default version stays until another is made the default.
    func removeVersion(_ version: String, of name: String) throws {
        try entries.withLock { entries in
            guard var entry = entries[name] else { throw ServiceError.notFound("no model named '\(name)'") }
            guard let number = Int(version), entry.record.version(number) != nil else {
                throw ServiceError.notFound("model '\(name)' has no version '\(version)'")
            }
            guard number != entry.record.state.defaultVersion else {
                throw ServiceError.conflict("version \(number) is the default version of '\(name)'; make another the default "
                    + "first (PUT /v1/models/\(name)/default), or DELETE /v1/models/\(name) to remove the model")
            }
            try index.remove(version: number, of: name)
            entry.record.versions.removeAll { $0.version == number }
            entry.loaded[number] = nil
            entry.failures[number] = nil
            entries[name] = entry
        }
        logger.info("removed model version", metadata: ["model": "\(name)", "version": "\(version)"])
    }

    /// Makes a stored version the default: after a fine-tuning job, the way back to the version before.
    func setDefaultVersion(_ version: Int, of name: String) throws -> Entry {
        let entry: Entry = try entries.withLock { entries in
            guard var entry = entries[name] else { throw ServiceError.notFound("no model named '\(name)'") }
            guard entry.record.version(version) != nil else {
                throw ServiceError.notFound("model '\(name)' has no version \(version); its versions are "
                    + entry.record.versions.map { "\($0.version)" }.joined(separator: ", "))
            }
            if let reason = entry.failures[version] {
                throw ServiceError.conflict("version \(version) of '\(name)' did not load and cannot serve: \(reason)")
            }
            entry.record.state.defaultVersion = version
            try index.setState(entry.record.state, of: name)
            entries[name] = entry
            return entry
        }
        logger.info("default version", metadata: ["model": "\(name)", "version": "\(version)"])
        return entry
    }

    /// Takes a model out of memory, every version; it stays stored, listed as unavailable, until
    /// `load`. The default model stays.
    func unload(_ name: String) throws {
        guard name != configuration.defaultModel else {
            throw ServiceError.conflict("'\(name)' is the default model and cannot be unloaded")
        }
        try entries.withLock { entries in
            guard var entry = entries[name] else { throw ServiceError.notFound("no model named '\(name)'") }
            entry.record.state.isLoaded = false
            try index.setState(entry.record.state, of: name)
            entry.loaded = [:]
            entry.failures = [:]
            entries[name] = entry
        }
        logger.info("unloaded model", metadata: ["model": "\(name)"])
    }

    /// Loads, or reloads, a model and every version of it as the index stores them now: a folder
    /// put into the data folder since start is found too. 400 when no version can serve.
    func load(_ name: String) throws -> Entry {
        guard importing.try() else {
            throw BudgetError.busy("another model is being imported; one import runs at a time", setting: nil,
                                   retryAfterSeconds: 2)
        }
        defer { importing.unlock() }
        guard var record = try index.record(named: name) else {
            throw ServiceError.notFound("no model named '\(name)' is stored")
        }
        if !record.state.isLoaded {
            record.state.isLoaded = true
            try index.setState(record.state, of: name)
        }
        guard let entry = try reload(name) else { throw ServiceError.notFound("no model named '\(name)' is stored") }
        guard entry.defaultModel != nil else {
            let reason = entry.record.state.defaultVersion.flatMap { entry.failures[$0] } ?? "it has no version"
            throw ServiceError.badParameter("model '\(name)' did not load: \(reason)")
        }
        return entry
    }
}
