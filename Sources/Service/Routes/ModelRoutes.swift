import CNN
import Foundation
import HTTPServer
import HTTPTypes
import Imaging

/// The model registry over HTTP: list, describe, upload, delete, export, and versions: an
/// upload under a name in use adds a version, which serves as the default unless the form says
/// `default=false`; any stored version can be made the default again (a rollback).
struct ModelRoutes {
    let registry: ModelRegistry
    let configuration: ServiceConfiguration

    struct Listing: Codable {
        var models: [ModelSummary]
    }

    /// One stored version as a model's detail lists it.
    struct VersionSummary: Codable {
        var version: Int
        var isDefault: Bool
        /// `ready`, or `unavailable` with the reason.
        var state: String
        var reason: String?
        var created: Date?
        var weightsSHA256: String?
        var provenance: [String: JSONValue]?

        enum CodingKeys: String, CodingKey {
            case version, state, reason, created, provenance
            case isDefault = "default", weightsSHA256 = "weights_sha256"
        }
    }

    struct Detail: Codable {
        var name: String
        var version: Int
        var defaultVersion: Int?
        /// KServe v1's model readiness reads this.
        var ready: Bool
        var versions: [VersionSummary]
        var card: ModelCard
        var analysis: ModelAnalysis
        var input: [Int]

        enum CodingKeys: String, CodingKey {
            case name, version, ready, versions, card, analysis, input
            case defaultVersion = "default_version"
        }
    }

    struct DefaultVersion: Codable {
        var version: Int
    }

    func register(on router: GuardedRouter) {
        router.get("/v1/models") { _ in
            try .json(Listing(models: registry.entriesByName.compactMap { entry in
                entry.defaultModel.map { summary($0, entry: entry) }
            }))
        }
        router.get("/v1/models/:name") { request in
            try .json(detail(registry.model(named: request.parameter("name"))), encoder: cardEncoder)
        }
        router.get("/v1/models/:name/versions/:version") { request in
            try .json(detail(registry.model(named: request.parameter("name"), version: request.parameter("version"))),
                      encoder: cardEncoder)
        }
        router.post("/v1/models", bodies: AcceptedBodyTypes(["multipart/form-data"]), bodyLimit: (configuration.maxUploadBytes, "max_upload_bytes")) { request in
            let model = try upload(request)
            return try .json(summary(model, entry: try registry.entry(named: model.name)), status: .created)
        }
        router.delete("/v1/models/:name") { request in
            try registry.remove(request.parameter("name"))
            return HTTPServerResponse(status: .noContent)
        }
        router.delete("/v1/models/:name/versions/:version") { request in
            try registry.removeVersion(request.parameter("version"), of: request.parameter("name"))
            return HTTPServerResponse(status: .noContent)
        }
        router.put("/v1/models/:name/default", bodies: .json) { request in
            let body = try request.decode(DefaultVersion.self)
            let entry = try registry.setDefaultVersion(body.version, of: request.parameter("name"))
            return try .json(detail(try registry.model(named: entry.name)), encoder: cardEncoder)
        }
        router.get("/v1/models/:name/export") { request in
            let model = try registry.model(named: request.parameter("name"), version: request.queryValue("version"))
            let format = request.queryValue("format") ?? "onnx"
            let (data, type, fileName) = try export(model, format: format)
            var fields = HTTPFields()
            fields[.contentType] = type
            fields[.contentDisposition] = "attachment; filename=\"\(fileName)\""
            return HTTPServerResponse(status: .ok, headerFields: fields, body: data)
        }
    }

    private func summary(_ model: LoadedModel, entry: ModelRegistry.Entry) -> ModelSummary {
        model.summary(isDefault: model.name == configuration.defaultModel, versions: entry.record.versions.map(\.version))
    }

    private func detail(_ model: LoadedModel) throws -> Detail {
        let entry = try registry.entry(named: model.name)
        let versions = entry.record.versions.map { version -> VersionSummary in
            let card = try? version.card.get()
            let ready = entry.loaded[version.version] != nil
            return VersionSummary(version: version.version, isDefault: version.version == entry.record.state.defaultVersion,
                                  state: ready ? "ready" : "unavailable",
                                  reason: ready ? nil : entry.record.state.isLoaded ? entry.failures[version.version] : "unloaded",
                                  created: card?.created, weightsSHA256: card?.weightsSHA256, provenance: card?.provenance)
        }
        return Detail(name: model.name, version: model.version, defaultVersion: entry.record.state.defaultVersion, ready: true,
                      versions: versions, card: model.card, analysis: model.analysis, input: model.inputShape)
    }

    private var cardEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    /// A multipart form: `file` (the ONNX model), `labels` (one per line, or a JSON array),
    /// `preprocessing` (a preset name or a JSON description), `name`, and `default` (false keeps
    /// the current default version when the name is in use).
    private func upload(_ request: HTTPServerRequest) throws -> LoadedModel {
        let parts = try MultipartParser.parse(request)
        func field(_ name: String) -> Data? { parts.first { $0.name == name }?.body }
        guard let file = field("file") ?? field("model") else {
            throw ServiceError.badParameter("the form needs a 'file' part with the ONNX model")
        }
        guard let nameData = field("name"), let name = String(data: nameData, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines) else {
            throw ServiceError.badParameter("the form needs a 'name' field")
        }
        guard let labelData = field("labels"), let labelText = String(data: labelData, encoding: .utf8) else {
            throw ServiceError.badParameter("the form needs a 'labels' field: one label per line, or a JSON array")
        }
        let labels = (try? JSONDecoder().decode([String].self, from: labelData))
            ?? labelText.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let preprocessingText = field("preprocessing").flatMap { String(data: $0, encoding: .utf8) }?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "imagenet"
        let preprocessing: JSONValue
        if Preprocessing.presets[preprocessingText] != nil {
            preprocessing = .object(["preset": .string(preprocessingText)])
        } else if let described = try? JSONDecoder().decode(JSONValue.self, from: Data(preprocessingText.utf8)) {
            preprocessing = described
        } else {
            throw ServiceError.badParameter("preprocessing must be \(Preprocessing.presets.keys.sorted().joined(separator: " or ")) or a JSON description")
        }
        // Before the model is imported, so a typo costs nothing.
        _ = try LoadedModel.preprocessing(from: preprocessing)
        let card = ModelCard(name: name, architecture: nil, onnxFile: "model.onnx", labels: labels, preprocessing: preprocessing,
                             provenance: ["source": .string("uploaded ONNX file")], created: Date())
        let makeDefault: Bool
        switch field("default").flatMap({ String(data: $0, encoding: .utf8) })?.trimmingCharacters(in: .whitespacesAndNewlines) {
        case nil, "true": makeDefault = true
        case "false": makeDefault = false
        case let other?: throw ServiceError.badParameter("default must be true or false, not '\(other)'")
        }
        return try registry.register(card: card, files: ["model.onnx": file], makeDefault: makeDefault)
    }

    private func export(_ model: LoadedModel, format: String) throws -> (Data, String, String) {
        switch format {
        case "safetensors":
            return (try Safetensors.encode(model.graph.namedTensors), "application/octet-stream", "\(model.name).safetensors")
        case "onnx":
            return (try ModelFormats.onnx(model.graph), "application/octet-stream", "\(model.name).onnx")
        default:
            throw ServiceError.badParameter("format must be onnx or safetensors")
        }
    }
}
