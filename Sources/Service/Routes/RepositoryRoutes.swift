import CNN
import Foundation
import HTTPServer

/// Triton's model repository extension over the registry: the index lists every stored model
/// version with its state, load (re)reads a model from the data folder and serves every version,
/// unload takes it out of memory and keeps it stored. Loading and unloading change what the
/// service serves, so they need the management token.
struct RepositoryRoutes {
    let registry: ModelRegistry

    struct IndexEntry: Codable {
        var name: String
        var version: String?
        /// READY, or UNAVAILABLE with the reason.
        var state: String
        var reason: String
    }

    struct IndexRequest: Decodable {
        var ready: Bool?
    }

    /// The bodies these routes take: JSON, or none. tritonclient sends its JSON untyped and the
    /// C++ client (perf_analyzer) as a form, neither of which a browser's page could do here.
    static let bodies = AcceptedBodyTypes(["application/json"], untypedFromNonBrowsers: true)

    func register(on router: GuardedRouter) {
        router.read("/v2/repository/index", bodies: Self.bodies) { request in
            let readyOnly = try request.body.isEmpty ? false : request.decode(IndexRequest.self).ready ?? false
            let entries = Self.index(registry.entriesByName)
            return try .json(readyOnly ? entries.filter { $0.state == "READY" } : entries)
        }
        router.post("/v2/repository/models/:name/load", bodies: Self.bodies) { request in
            let name = try request.parameter("name")
            try refuseModelFiles(request)
            _ = try registry.load(name)
            return try .json([String: String]())
        }
        router.post("/v2/repository/models/:name/unload", bodies: Self.bodies) { request in
            try registry.unload(request.parameter("name"))
            return try .json([String: String]())
        }
    }

    /// Every stored version: READY when it serves, else UNAVAILABLE and why.
    static func index(_ entries: [ModelRegistry.Entry]) -> [IndexEntry] {
        entries.flatMap { entry in
            entry.record.versions.map { version -> IndexEntry in
                let number = version.version
                if entry.loaded[number] != nil {
                    return IndexEntry(name: entry.name, version: "\(number)", state: "READY", reason: "")
                }
                let reason = entry.record.state.isLoaded ? entry.failures[number] ?? "not loaded" : "unloaded"
                return IndexEntry(name: entry.name, version: "\(number)", state: "UNAVAILABLE", reason: reason)
            }
        }
    }

    /// Triton's load may carry a model configuration and files to load instead of the stored
    /// ones; here a model arrives with its labels and preprocessing through POST /v1/models.
    private func refuseModelFiles(_ request: HTTPServerRequest) throws {
        guard !request.body.isEmpty else { return }
        struct LoadRequest: Decodable { var parameters: [String: JSONValue]? }
        let parameters = try request.decode(LoadRequest.self).parameters ?? [:]
        if let key = parameters.keys.sorted().first(where: { $0 == "config" || $0.hasPrefix("file:") }) {
            throw ServiceError.badParameter("load takes no '\(key)': upload a model with its labels and preprocessing "
                + "through POST /v1/models; load serves what is stored")
        }
    }
}
