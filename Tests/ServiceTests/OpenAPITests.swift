import CNN
import Foundation
import HTTPServer
import Imaging
import Service
import XCTest

/// The OpenAPI document (Sources/Service/Resources/openapi.json) is the API's one description:
/// these tests hold it to the routes the router registers and to the code's enums.
final class OpenAPITests: XCTestCase {
    private static let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options"]

    private func spec(_ harness: ServiceHarness) throws -> [String: Any] {
        let response = try harness.curl("/openapi.json")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.headers["content-type"], "application/json")
        return try XCTUnwrap(response.json as? [String: Any], "openapi.json is not a JSON object")
    }

    /// The object `ref` ("#/components/...") names.
    private func resolve(_ ref: String, in spec: [String: Any]) -> Any? {
        guard ref.hasPrefix("#/") else { return nil }
        return ref.dropFirst(2).split(separator: "/").reduce(spec as Any?) { node, key in
            (node as? [String: Any])?[String(key)]
        }
    }

    private func dereferenced(_ value: Any, in spec: [String: Any]) -> Any? {
        guard let ref = (value as? [String: Any])?["$ref"] as? String else { return value }
        return resolve(ref, in: spec)
    }

    func testEveryRegisteredRouteIsDescribedAndNothingElse() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let spec = try spec(harness)
        let paths = try XCTUnwrap(spec["paths"] as? [String: [String: Any]])
        var described = Set<String>()
        for (path, item) in paths {
            for method in item.keys where Self.methods.contains(method) { described.insert("\(method.uppercased()) \(path)") }
        }
        let served = Set(harness.service.routes.map { "\($0.method.rawValue) \(Self.openAPIPath($0.pattern))" })
        XCTAssertFalse(served.isEmpty)
        XCTAssertEqual(served.subtracting(described).sorted(), [], "routes the server registers that openapi.json does not describe")
        XCTAssertEqual(described.subtracting(served).sorted(), [], "operations openapi.json describes that no route serves")
    }

    /// "/v1/models/:name" as "/v1/models/{name}", "/v1/saliency/:id.png" as "/v1/saliency/{id}.png",
    /// and a final wildcard "*path" as "{path}".
    static func openAPIPath(_ pattern: String) -> String {
        "/" + pattern.split(separator: "/").map { segment -> String in
            guard let first = segment.first, first == ":" || first == "*" else { return String(segment) }
            let body = segment.dropFirst()
            let name = body.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            return "{\(name)}" + body.dropFirst(name.count)
        }.joined(separator: "/")
    }

    func testPathParametersAreDeclaredAndEveryReferenceResolves() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let spec = try spec(harness)
        let paths = try XCTUnwrap(spec["paths"] as? [String: [String: Any]])
        for (path, item) in paths {
            let templated = Set(path.split(separator: "{").dropFirst().compactMap { $0.split(separator: "}").first.map(String.init) })
            for (method, operation) in item where Self.methods.contains(method) {
                let parameters = ((operation as? [String: Any])?["parameters"] as? [Any] ?? [])
                    .compactMap { dereferenced($0, in: spec) as? [String: Any] }
                let declared = Set(parameters.filter { $0["in"] as? String == "path" }.compactMap { $0["name"] as? String })
                XCTAssertEqual(declared, templated, "\(method) \(path): path parameters")
            }
        }
        var unresolved: [String] = []
        func visit(_ node: Any) {
            if let object = node as? [String: Any] {
                if let ref = object["$ref"] as? String, resolve(ref, in: spec) == nil { unresolved.append(ref) }
                object.values.forEach(visit)
            } else if let array = node as? [Any] {
                array.forEach(visit)
            }
        }
        visit(spec)
        XCTAssertEqual(unresolved, [])
    }

    func testEnumsAreTheCodes() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let spec = try spec(harness)
        func values(_ schema: String) -> [String]? {
            (resolve("#/components/schemas/\(schema)", in: spec) as? [String: Any])?["enum"] as? [String]
        }
        XCTAssertEqual(values("SaliencyMethod"), SaliencyMethod.allCases.map(\.rawValue))
        XCTAssertEqual(values("IntegrationRule"), IntegrationRule.allCases.map(\.rawValue))
        XCTAssertEqual(values("SaliencyBaseline"), SaliencyBaseline.allCases.map(\.rawValue))
        XCTAssertEqual(values("Colormap"), Colormap.allCases.map(\.rawValue))
        XCTAssertEqual(values("ChannelReduction"), ChannelReduction.allCases.map(\.rawValue))
        XCTAssertEqual(values("Schedule"), Schedule.allCases.map(\.rawValue))
        XCTAssertEqual(values("JobState"), JobState.allCases.map(\.rawValue))
        XCTAssertEqual(values("HeadChoice"), HeadChoice.allCases.map(\.rawValue))
        XCTAssertEqual(values("HeadPooling"), HeadPooling.allCases.map(\.rawValue))
        XCTAssertEqual(values("FrozenBatchNorm"), FrozenBatchNorm.allCases.map(\.rawValue))
        XCTAssertEqual(values("Regularization"), Regularization.allCases.map(\.rawValue))
    }

    /// Every field of a job request and of a job's transfer plan is described, and nothing else.
    func testJobRequestAndTransferPlanFieldsAreTheCodes() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let spec = try spec(harness)
        func properties(_ schema: String) -> Set<String> {
            Set(((resolve("#/components/schemas/\(schema)", in: spec) as? [String: Any])?["properties"] as? [String: Any])?.keys.map { $0 } ?? [])
        }
        var request = JobRequest(baseModel: "b", dataset: "d", outputModel: "o")
        request.headEpochs = 1
        let encoded = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(request)) as? [String: Any])
        XCTAssertEqual(properties("JobRequest"), Set(encoded.keys))
        let plan = TransferPlan(head: .classifier, cutAt: "c", replaced: [], newHead: [], layerGroups: [], learningRate: 1,
                                learningRateFinder: nil, stages: [], best: nil)
        let encodedPlan = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(plan)) as? [String: Any])
        XCTAssertTrue(Set(encodedPlan.keys).isSubset(of: properties("TransferPlan")), "\(encodedPlan.keys)")
    }

    /// Headers the saliency route sends beyond HTTP's own are the ones its 200 response documents.
    func testSaliencyHeadersAreDocumented() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let spec = try spec(harness)
        let operation = try XCTUnwrap((spec["paths"] as? [String: Any]).flatMap {
            ($0["/v1/models/{name}/saliency"] as? [String: Any])?["post"] as? [String: Any]
        })
        let ok = try XCTUnwrap((operation["responses"] as? [String: Any])?["200"] as? [String: Any])
        let documented = Set(((ok["headers"] as? [String: Any]) ?? [:]).keys.map { $0.lowercased() })
        // fidelity=true and a sanity check of the method first: the headers sent only then are sent too.
        let sanity = try harness.post("/v1/models/fashion-cnn/saliency/sanity?methods=gradient&layers=1", file: try ServiceHarness.photos()[0])
        XCTAssertEqual(sanity.status, 200, sanity.text)
        let response = try harness.post("/v1/models/fashion-cnn/saliency?fidelity=true", file: try ServiceHarness.photos()[0])
        XCTAssertEqual(response.status, 200, response.text)
        let sent = Set(response.headers.keys.filter { $0.hasPrefix("x-saliency") || $0 == "cache-control" })
        XCTAssertFalse(sent.isEmpty)
        XCTAssertEqual(sent, documented)
    }

    /// Each budget a route refuses with is named in that route's response for the refusal's status,
    /// so a client reading the API description learns which setting an operator would change.
    func testRefusalsNameTheSettingsBehindThem() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let spec = try spec(harness)
        let images = ["max_image_bytes", "max_image_pixels", "max_image_memory_bytes", "max_request_images", "max_request_pixels"]
        let imagesBusy = ["max_queued_requests", "max_buffered_body_bytes", "max_image_memory_bytes"]
        var expected: [(String, String, String, [String])] = []
        for path in ["/v1/classify", "/v1/models/{name}/classify", "/v1/models/{name}/saliency"] {
            expected += [("post", path, "413", ["max_body_bytes"]), ("post", path, "422", images), ("post", path, "503", imagesBusy)]
        }
        for path in ["/v1/models/{name}:predict", "/v1/models/{name}:explain", "/v2/models/{name}/infer",
                     "/v2/models/{name}/versions/{version}/infer"] {
            expected += [("post", path, "413", ["max_body_bytes", "max_batch_size"]), ("post", path, "422", images),
                         ("post", path, "503", imagesBusy)]
        }
        expected += [
            ("post", "/v1/models", "409", ["max_models", "max_model_versions"]),
            ("post", "/v1/models", "413", ["max_upload_bytes"]),
            ("post", "/v1/models", "422", ["max_model_input_elements", "max_import_work", "max_import_constant_bytes", "max_import_seconds",
                                            "max_import_nodes"]),
            ("post", "/v1/models", "503", ["max_queued_writes", "max_buffered_body_bytes"]),
            ("post", "/v1/datasets", "409", ["max_datasets", "max_dataset_bytes"]),
            ("post", "/v1/datasets", "413", ["max_upload_bytes", "max_dataset_files", "max_image_bytes"]),
            ("post", "/v1/datasets", "503", ["max_queued_writes", "max_buffered_body_bytes"]),
            ("post", "/v1/jobs", "422", ["max_training_set_bytes", "max_training_batch_bytes"]),
            ("post", "/v1/jobs", "503", ["max_queued_jobs", "max_queued_writes"]),
            ("get", "/v1/models", "503", ["max_queued_reads"]),
            ("get", "/healthz", "503", ["max_queued_operations"]),
        ]
        let paths = try XCTUnwrap(spec["paths"] as? [String: Any])
        for (method, path, status, settings) in expected {
            let operation = (paths[path] as? [String: Any])?[method] as? [String: Any]
            let response = (operation?["responses"] as? [String: Any])?[status].flatMap { dereferenced($0, in: spec) }
            let description = (response as? [String: Any])?["description"] as? String ?? ""
            for setting in settings {
                XCTAssertTrue(description.contains(setting), "\(method.uppercased()) \(path) \(status) does not name \(setting): \(description)")
            }
        }
    }
}
