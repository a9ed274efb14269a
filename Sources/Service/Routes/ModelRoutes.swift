import CNN
import Foundation
import HTTPServer
import HTTPTypes
import Imaging

/// The model registry over HTTP: list, describe, upload, delete, export.
struct ModelRoutes {
    let registry: ModelRegistry
    let configuration: ServiceConfiguration

    struct Listing: Codable {
        var models: [ModelSummary]
    }

    struct Detail: Codable {
        var card: ModelCard
        var analysis: ModelAnalysis
        var input: [Int]
    }

    func register(on router: GuardedRouter) {
        router.get("/v1/models") { _ in
            try .json(Listing(models: registry.all.map { $0.summary(isDefault: $0.name == configuration.defaultModel) }))
        }
        router.get("/v1/models/:name") { request in
            let model = try registry.model(named: request.parameter("name"))
            return try .json(Detail(card: model.card, analysis: model.analysis, input: model.inputShape), encoder: cardEncoder)
        }
        router.post("/v1/models", bodies: AcceptedBodyTypes(["multipart/form-data"]), bodyLimit: configuration.maxUploadBytes) { request in
            let model = try upload(request)
            return try .json(model.summary(isDefault: false), status: .created)
        }
        router.delete("/v1/models/:name") { request in
            try registry.remove(request.parameter("name"))
            return HTTPServerResponse(status: .noContent)
        }
        router.get("/v1/models/:name/export") { request in
            let model = try registry.model(named: request.parameter("name"))
            let format = request.queryValue("format") ?? "onnx"
            let (data, type, fileName) = try export(model, format: format)
            var fields = HTTPFields()
            fields[.contentType] = type
            fields[.contentDisposition] = "attachment; filename=\"\(fileName)\""
            return HTTPServerResponse(status: .ok, headerFields: fields, body: data)
        }
    }

    private var cardEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    /// A multipart form: `file` (the ONNX model), `labels` (one per line, or a JSON array),
    /// `preprocessing` (a preset name or a JSON description) and `name`.
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
        return try registry.register(card: card, files: ["model.onnx": file])
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
