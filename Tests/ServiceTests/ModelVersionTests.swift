import CNN
import Foundation
import XCTest

/// Model versions over HTTP: an upload under a name in use adds a version, the default serves,
/// every version stays servable by number until deleted, the default can be set back (after a
/// fine-tuning job too), numbers are never reused, and all of it survives a restart. Then Triton's
/// model repository extension on the same registry: index, unload, load.
final class ModelVersionTests: XCTestCase {
    private var harness: JobTestHarness!
    private var onnx: URL!

    override func setUpWithError() throws {
        harness = try JobTestHarness()
        let exported = try harness.request("GET", "/v1/models/fashion-cnn/export?format=onnx")
        XCTAssertEqual(exported.status, 200)
        onnx = harness.dataDirectory.appendingPathComponent("fashion.onnx")
        try exported.body.write(to: onnx)
    }

    override func tearDown() {
        harness.stop()
    }

    private let labels = (0..<10).map { "class \($0)" }.joined(separator: "\n")

    private func upload(_ name: String, _ extra: [String] = []) throws -> ServiceHarness.Response {
        try harness.harness.curl("/v1/models", ["-F", "file=@\(onnx.path)", "-F", "name=\(name)", "-F", "labels=\(labels)",
                                                "-F", "preprocessing=fashion-mnist"] + extra)
    }

    private func detail(_ path: String) throws -> [String: Any] {
        let response = try harness.request("GET", path)
        XCTAssertEqual(response.status, 200, response.text)
        return response.object
    }

    private func versions(_ name: String) throws -> [Int] {
        try XCTUnwrap(detail("/v1/models/\(name)")["versions"] as? [[String: Any]]).compactMap { $0["version"] as? Int }
    }

    private func setDefault(_ name: String, _ version: Int) throws -> ServiceHarness.Response {
        try harness.request("PUT", "/v1/models/\(name)/default", body: Data(#"{"version": \#(version)}"#.utf8),
                            contentType: "application/json")
    }

    private func top(_ path: String) throws -> (index: Int, count: Int) {
        let answer = try harness.request("POST", path, body: Data(JobTestHarness.barImage(top: true, seed: 3)), contentType: "image/png")
        XCTAssertEqual(answer.status, 200, answer.text)
        let predictions = try XCTUnwrap(answer.object["predictions"] as? [[String: Any]])
        return (try XCTUnwrap(predictions.first?["index"] as? Int), predictions.count)
    }

    func testUploadsUnderANameAddVersionsThatStayServable() throws {
        let first = try upload("fashion-onnx")
        XCTAssertEqual(first.status, 201, first.text)
        XCTAssertEqual(first.object["version"] as? Int, 1)
        let second = try upload("fashion-onnx")
        XCTAssertEqual(second.status, 201, second.text)
        XCTAssertEqual(second.object["version"] as? Int, 2)
        XCTAssertEqual(second.object["versions"] as? [Int], [1, 2])
        let kept = try upload("fashion-onnx", ["-F", "default=false"])
        XCTAssertEqual(kept.object["version"] as? Int, 3, kept.text)
        XCTAssertEqual(try upload("fashion-onnx", ["-F", "default=maybe"]).status, 400)

        var model = try detail("/v1/models/fashion-onnx")
        XCTAssertEqual(model["version"] as? Int, 2, "an upload with default=false keeps the default")
        XCTAssertEqual(model["default_version"] as? Int, 2)
        XCTAssertEqual(model["ready"] as? Bool, true)
        let listed = try XCTUnwrap(model["versions"] as? [[String: Any]])
        XCTAssertEqual(listed.compactMap { $0["default"] as? Bool }, [false, true, false])
        XCTAssertEqual(Set(listed.compactMap { $0["state"] as? String }), ["ready"])
        XCTAssertEqual(try detail("/v1/models/fashion-onnx/versions/1")["version"] as? Int, 1)
        XCTAssertEqual(try harness.request("GET", "/v1/models/fashion-onnx/versions/9").status, 404)

        // Every version serves by number, on /v1 and on /v2.
        XCTAssertEqual(try top("/v1/models/fashion-onnx/classify?version=1").index, try top("/v1/models/fashion-cnn/classify").index)
        XCTAssertEqual(try harness.request("POST", "/v1/models/fashion-onnx/classify?version=7",
                                           body: Data(JobTestHarness.barImage(top: true, seed: 3)), contentType: "image/png").status, 404)
        let metadata = try detail("/v2/models/fashion-onnx")
        XCTAssertEqual(metadata["versions"] as? [String], ["1", "2", "3"])
        let zeros = [Float](repeating: 0, count: 784)
        let infer = try harness.request("POST", "/v2/models/fashion-onnx/versions/3/infer", body: Data(
            #"{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":\#(zeros)}]}"#.utf8),
            contentType: "application/json")
        XCTAssertEqual(infer.object["model_version"] as? String, "3", infer.text)
        let stats = try XCTUnwrap(detail("/v2/models/fashion-onnx/stats")["model_stats"] as? [[String: Any]])
        XCTAssertEqual(stats.compactMap { $0["version"] as? String }, ["1", "2", "3"])

        // The default moves back, and a version goes only when it is not the default.
        XCTAssertEqual(try setDefault("fashion-onnx", 1).object["version"] as? Int, 1)
        XCTAssertEqual(try detail("/v2/models/fashion-onnx/config")["version_policy"] as? [String: [String: [Int]]],
                       ["specific": ["versions": [1, 2, 3]]])
        XCTAssertEqual(try setDefault("fashion-onnx", 9).status, 404)
        let refused = try harness.request("DELETE", "/v1/models/fashion-onnx/versions/1")
        XCTAssertEqual(refused.status, 409, refused.text)
        XCTAssertEqual(try harness.request("DELETE", "/v1/models/fashion-onnx/versions/3").status, 204)
        XCTAssertEqual(try versions("fashion-onnx"), [1, 2])
        XCTAssertEqual(try harness.request("GET", "/v2/models/fashion-onnx/versions/3").status, 404)
        XCTAssertEqual(try upload("fashion-onnx").object["version"] as? Int, 4, "a deleted version's number is not reused")

        // max_model_versions bounds a model's versions, naming the setting.
        try harness.restart { $0.budgets.maxModelVersions = 3 }
        XCTAssertEqual(try versions("fashion-onnx"), [1, 2, 4], "versions survive a restart")
        XCTAssertEqual(try detail("/v1/models/fashion-onnx")["version"] as? Int, 4, "and so does the default")
        let full = try upload("fashion-onnx")
        XCTAssertEqual(full.status, 409, full.text)
        XCTAssertTrue(full.text.contains("max_model_versions"), full.text)
        XCTAssertEqual(try harness.request("DELETE", "/v1/models/fashion-onnx").status, 204)
        XCTAssertEqual(try harness.request("GET", "/v1/models/fashion-onnx").status, 404)
        XCTAssertEqual(try upload("fashion-onnx").object["version"] as? Int, 1, "a new model starts again at 1")
    }

    /// A folder laid out before versions (card and weights directly in models/NAME) is version 1
    /// where it lies; a new version goes beside it.
    func testAFolderWithoutVersionsIsVersionOne() throws {
        let models = harness.dataDirectory.appendingPathComponent("models")
        let legacy = models.appendingPathComponent("legacy")
        try FileManager.default.createDirectory(at: legacy, withIntermediateDirectories: true)
        let stored = models.appendingPathComponent("fashion-cnn/1")
        var card = try ModelCard(json: Data(contentsOf: stored.appendingPathComponent("card.json")))
        card.name = "legacy"
        try FileManager.default.copyItem(at: stored.appendingPathComponent("weights.safetensors"),
                                         to: legacy.appendingPathComponent("weights.safetensors"))
        try card.jsonData().write(to: legacy.appendingPathComponent("card.json"))
        try harness.restart()
        XCTAssertEqual(try versions("legacy"), [1])
        XCTAssertEqual(try top("/v1/models/legacy/classify").index, try top("/v1/models/fashion-cnn/classify").index)
        let export = try harness.request("GET", "/v1/models/legacy/export?format=safetensors")
        XCTAssertEqual(export.status, 200)
        XCTAssertTrue(FileManager.default.fileExists(atPath: legacy.appendingPathComponent("card.json").path))
    }

    /// A fine-tuning job whose output is a model in use adds a version; the version before it
    /// serves again once it is made the default.
    func testAFineTuningJobAddsAVersionThatCanBeRolledBack() throws {
        let before = try top("/v1/classify")
        XCTAssertEqual(before.count, 5)
        let archive = try JobTestHarness.zip(JobTestHarness.barDataset(perClass: 12))
        let dataset = try XCTUnwrap(try harness.uploadDataset(archive).object["id"] as? String)
        let submitted = try harness.postJSON("/v1/jobs", ["base_model": "fashion-cnn", "dataset": dataset, "output_model": "fashion-cnn",
                                                          "epochs": 1, "batch_size": 8, "early_stopping_patience": 0])
        XCTAssertEqual(submitted.status, 202, submitted.text)
        let job = try harness.waitForJob(try XCTUnwrap(submitted.object["id"] as? String), states: ["succeeded", "failed", "cancelled"])
        XCTAssertEqual(job["state"] as? String, "succeeded", "\(job["error"] ?? "")")

        let model = try detail("/v1/models/fashion-cnn")
        XCTAssertEqual(model["version"] as? Int, 2)
        let tuned = try XCTUnwrap((model["versions"] as? [[String: Any]])?.last)
        XCTAssertEqual((tuned["provenance"] as? [String: Any])?["job"] as? String, job["id"] as? String)
        XCTAssertEqual(try top("/v1/classify").count, 2, "the fine-tuned version serves: two classes")
        XCTAssertEqual(try setDefault("fashion-cnn", 1).status, 200)
        let after = try top("/v1/classify")
        XCTAssertEqual(after.count, 5)
        XCTAssertEqual(after.index, before.index, "the version before the job serves again")
    }

    /// Triton's repository extension: the index lists every stored version and its state; unload
    /// keeps a model stored but serves it no more, across a restart, until load.
    func testRepositoryIndexUnloadAndLoad() throws {
        XCTAssertEqual(try upload("fashion-onnx").status, 201)
        XCTAssertEqual(try upload("fashion-onnx").status, 201)
        func index(_ body: String? = nil) throws -> [[String: String]] {
            let response = try harness.request("POST", "/v2/repository/index", body: body.map { Data($0.utf8) },
                                               contentType: body == nil ? nil : "application/json")
            XCTAssertEqual(response.status, 200, response.text)
            return try XCTUnwrap(response.json as? [[String: String]])
        }
        XCTAssertEqual(try index().map { "\($0["name"]!)/\($0["version"]!)/\($0["state"]!)" },
                       ["fashion-cnn/1/READY", "fashion-onnx/1/READY", "fashion-onnx/2/READY"])

        XCTAssertEqual(try harness.request("POST", "/v2/repository/models/fashion-onnx/unload").status, 200)
        XCTAssertEqual(try harness.request("GET", "/v2/models/fashion-onnx/ready").status, 404)
        XCTAssertEqual(try harness.request("POST", "/v1/models/fashion-onnx/classify",
                                           body: Data(JobTestHarness.barImage(top: true, seed: 3)), contentType: "image/png").status, 404)
        XCTAssertEqual(try index().filter { $0["name"] == "fashion-onnx" }.map { $0["reason"]! }, ["unloaded", "unloaded"])
        XCTAssertEqual(try index(#"{"ready": true}"#).map { $0["name"]! }, ["fashion-cnn"])
        XCTAssertEqual(try upload("fashion-onnx").status, 409, "no version is added to an unloaded model")
        XCTAssertEqual(try harness.request("POST", "/v2/repository/models/fashion-cnn/unload").status, 409, "the default model stays")

        try harness.restart()
        XCTAssertEqual(try harness.request("GET", "/v2/models/fashion-onnx/ready").status, 404, "unloaded across a restart")
        let loaded = try harness.request("POST", "/v2/repository/models/fashion-onnx/load", body: Data("{}".utf8),
                                         contentType: "application/json")
        XCTAssertEqual(loaded.status, 200, loaded.text)
        XCTAssertEqual(try harness.request("GET", "/v2/models/fashion-onnx/versions/1/ready").status, 200)
        XCTAssertEqual(try harness.request("POST", "/v2/repository/models/nothing/load").status, 404)
        let withFiles = try harness.request("POST", "/v2/repository/models/fashion-onnx/load",
                                            body: Data(#"{"parameters": {"file:1/model.onnx": "AAAA"}}"#.utf8),
                                            contentType: "application/json")
        XCTAssertEqual(withFiles.status, 400, withFiles.text)
        XCTAssertTrue((withFiles.object["error"] as? String)?.contains("POST /v1/models") == true, withFiles.text)
    }
}
