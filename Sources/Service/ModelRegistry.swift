import CNN
import Foundation
import HTTPServer
import Logging

/// The models on disk under `data/models/<name>/`, loaded at start and served by name.
///
/// A model folder holds `card.json` and its weights (`weights.safetensors` for native models,
/// the ONNX file named by the card for imported ones). A model whose weights do not match the
/// card's SHA-256 is refused with a logged reason and never served.
final class ModelRegistry: @unchecked Sendable {
    let root: URL
    private let configuration: ServiceConfiguration
    private let logger: Logger
    private let lock = NSLock()
    private var models: [String: LoadedModel] = [:]
    /// The threads every model computes on.
    let threads: ComputeThreads
    /// One import at a time: a second upload is answered 503 at once rather than holding its body
    /// (up to `max_upload_bytes`) while it waits.
    private let importing = NSLock()

    init(configuration: ServiceConfiguration, logger: Logger) {
        root = configuration.dataURL.appendingPathComponent("models")
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

    /// Copies the bundled default model into the data folder when it is not there yet, then
    /// loads every model folder.
    func start(bundledModels: URL?) throws {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        if let bundledModels, let names = try? FileManager.default.contentsOfDirectory(atPath: bundledModels.path) {
            for name in names where !FileManager.default.fileExists(atPath: root.appendingPathComponent(name).path) {
                try install(from: bundledModels.appendingPathComponent(name), as: name)
            }
        }
        for name in try FileManager.default.contentsOfDirectory(atPath: root.path).sorted() where !name.hasPrefix(".") {
            do {
                let model = try load(name)
                lock.withLock { models[name] = model }
                logger.info("loaded model", metadata: ["model": "\(name)", "format": "\(model.format)"])
            } catch {
                logger.error("refused model", metadata: ["model": "\(name)", "reason": "\(error)"])
            }
        }
    }

    /// Copies a model folder file by file, each write atomic, the card last.
    private func install(from source: URL, as name: String) throws {
        let target = root.appendingPathComponent(name)
        let files = try FileManager.default.contentsOfDirectory(atPath: source.path).sorted { a, _ in a != Checkpoint.cardFile }
        for file in files {
            try AtomicFile.write(Data(contentsOf: source.appendingPathComponent(file)), to: target.appendingPathComponent(file))
        }
    }

    private func load(_ name: String) throws -> LoadedModel {
        let directory = root.appendingPathComponent(name)
        let card = try ModelCard(json: Data(contentsOf: directory.appendingPathComponent(Checkpoint.cardFile)))
        guard card.name == name else { throw GraphError(node: name, "the card names the model '\(card.name)'") }
        let weightsFile = card.onnxFile ?? Checkpoint.weightsFile
        guard !weightsFile.contains("/") else { throw GraphError(node: name, "the card's weights file leaves the folder") }
        let weights = try Data(contentsOf: directory.appendingPathComponent(weightsFile))
        guard let expected = card.weightsSHA256 else { throw GraphError(node: name, "the card has no weights checksum") }
        let actual = Checksum.sha256(weights)
        guard actual == expected else {
            throw GraphError(node: name, "weights checksum \(actual) does not match the card's \(expected)")
        }
        return try LoadedModel(card: card, version: 1, graph: ModelFormats.graph(card: card, weights: weights), directory: directory,
                               configuration: configuration, threads: threads)
    }

    func model(named name: String) throws -> LoadedModel {
        guard let model = lock.withLock({ models[name] }) else {
            throw ServiceError.notFound("no model named '\(name)'")
        }
        return model
    }

    /// The model at `version` (its number, as a path gives it), or at its default version when nil.
    func model(named name: String, version: String?) throws -> LoadedModel {
        let model = try self.model(named: name)
        guard let version else { return model }
        guard Int(version) == model.version else {
            throw ServiceError.notFound("model '\(name)' has no version '\(version)'; its versions are \(model.version)")
        }
        return model
    }

    var all: [LoadedModel] { lock.withLock { models.values.sorted { $0.name < $1.name } } }

    var defaultModel: LoadedModel? { lock.withLock { models[configuration.defaultModel] } }

    /// What an uploaded ONNX file may compute while it is imported, and for how long.
    var importBudget: ONNXImportBudget {
        let budgets = configuration.budgets
        return ONNXImportBudget(maxWork: budgets.maxImportWork, maxConstantBytes: budgets.maxImportConstantBytes,
                                maxSeconds: budgets.maxImportSeconds,
                                settingNames: [.work: "max_import_work", .constantBytes: "max_import_constant_bytes",
                                               .seconds: "max_import_seconds"])
    }

    /// Writes a model's files (each atomically, the card last) and serves it at once. An upload
    /// (`waitForImport` false) is refused with 503 while another import runs; a finished job
    /// waits its turn.
    func register(card: ModelCard, files: [String: Data], waitForImport: Bool = false) throws -> LoadedModel {
        guard ModelRegistry.isValidName(card.name) else {
            throw ServiceError.badParameter("model names are 1 to 64 lowercase letters, digits, '-', '_' or '.'")
        }
        try checkRoom(for: card.name)
        if waitForImport {
            importing.lock()
        } else if !importing.try() {
            throw BudgetError.busy("another model is being imported; one import runs at a time", setting: nil,
                                     retryAfterSeconds: 2)
        }
        defer { importing.unlock() }
        let directory = root.appendingPathComponent(card.name)
        let weights = files[card.onnxFile ?? Checkpoint.weightsFile] ?? Data()
        var card = card
        card.weightsSHA256 = Checksum.sha256(weights)
        let model = try LoadedModel(card: card, version: 1, graph: ModelFormats.graph(card: card, weights: weights, budget: importBudget),
                                    directory: directory, configuration: configuration, threads: threads)
        try lock.withLock {
            // Checked again: another registration may have finished while this one imported.
            guard models[card.name] == nil else { throw ServiceError.conflict("a model named '\(card.name)' exists") }
            guard models.count < configuration.budgets.maxModels else { throw modelQuota }
            for (file, data) in files { try AtomicFile.write(data, to: directory.appendingPathComponent(file)) }
            try AtomicFile.write(card.jsonData(), to: directory.appendingPathComponent(Checkpoint.cardFile))
            models[card.name] = model
        }
        logger.info("registered model", metadata: ["model": "\(card.name)"])
        return model
    }

    /// Refuses a name in use, or a registry at its `max_models`, before anything is imported.
    func checkRoom(for name: String) throws {
        try lock.withLock {
            guard models[name] == nil else { throw ServiceError.conflict("a model named '\(name)' exists") }
            guard models.count < configuration.budgets.maxModels else { throw modelQuota }
        }
    }

    private var modelQuota: BudgetError {
        BudgetError.quota("the server holds \(configuration.budgets.maxModels) models, its limit; delete one first",
                            setting: "max_models")
    }

    /// Removes the card first, so a crash halfway leaves a folder that is not loaded.
    func remove(_ name: String) throws {
        let model = try self.model(named: name)
        guard name != configuration.defaultModel else {
            throw ServiceError.conflict("'\(name)' is the default model and cannot be deleted")
        }
        lock.withLock { _ = models.removeValue(forKey: name) }
        try? FileManager.default.removeItem(at: model.directory.appendingPathComponent(Checkpoint.cardFile))
        try FileManager.default.removeItem(at: model.directory)
    }
}
