import CNN
import Foundation

/// One stored version of a model: its number, its card (or why the card cannot be read), and
/// the folder that holds its weights.
package struct ModelVersionRecord {
    package var version: Int
    package var card: Result<ModelCard, Error>
    package var directory: URL
}

/// What is decided about a model as a whole.
package struct ModelState: Codable, Equatable {
    /// The version that serves requests naming none; nil until the first version is stored.
    package var defaultVersion: Int?
    /// The number the next version gets: numbers are never reused, so a deleted version's
    /// number never comes back meaning other weights.
    package var nextVersion: Int
    /// False after the repository API's unload, until its load: the versions stay stored.
    package var isLoaded: Bool

    package init(defaultVersion: Int?, nextVersion: Int, isLoaded: Bool) {
        self.defaultVersion = defaultVersion
        self.nextVersion = nextVersion
        self.isLoaded = isLoaded
    }

    enum CodingKeys: String, CodingKey {
        case defaultVersion = "default_version", nextVersion = "next_version", isLoaded = "loaded"
    }
}

package struct ModelRecord {
    package var name: String
    package var versions: [ModelVersionRecord]
    package var state: ModelState

    package func version(_ number: Int) -> ModelVersionRecord? { versions.first { $0.version == number } }

    /// Whether two readings of a model store the same versions, in the same places, in the same state.
    func matches(_ other: ModelRecord) -> Bool {
        state == other.state && versions.map { [$0.version: $0.directory] } == other.versions.map { [$0.version: $0.directory] }
    }
}

/// Which models and versions exist, which version is each model's default, and whether it is
/// loaded: the registry's stored index, apart from the models in memory. One folder per model in
/// the data folder by default (`FolderModelIndex`); a database shared by replicas can stand in.
/// Callers serialize changes to one model; reads may run beside them.
package protocol ModelIndex: AnyObject, Sendable {
    /// The names of every stored model.
    func names() throws -> [String]
    /// A model's versions and state as stored, or nil when nothing is stored under `name`.
    func record(named name: String) throws -> ModelRecord?
    /// Stores a version's files, each atomically and the card last, so a crash never leaves a
    /// card describing weights that are not all there. Returns the version's folder. Storing
    /// the same files again under the same number is no change (replicas starting together all
    /// install the bundled models as their version 1).
    func store(version: Int, of name: String, card: ModelCard, files: [String: Data]) throws -> URL
    /// Adds a version to `name` (a new model when none is stored under it) as `store` does, and
    /// moves the model's next number past it; it becomes the default when `makeDefault` or the
    /// model has none. Numbered `proposed` unless the index gave that number meanwhile (another
    /// replica added a version at the same moment), then the next free number: two additions
    /// never share one. Returns the version as stored and the model's state after.
    func add(proposed: Int, of name: String, card: ModelCard, files: [String: Data],
             makeDefault: Bool) throws -> (version: ModelVersionRecord, state: ModelState)
    /// Where `store` puts a version's files (which may depend on what they hold).
    func directory(of name: String, version: Int, files: [String: Data]) -> URL
    func setState(_ state: ModelState, of name: String) throws
    /// Removes one version: its card first, so a crash halfway leaves nothing that loads.
    func remove(version: Int, of name: String) throws
    /// Removes a model and every version.
    func remove(name: String) throws
}
