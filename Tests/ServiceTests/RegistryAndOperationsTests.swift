import CNN
import Foundation
import XCTest

final class RegistryAndOperationsTests: XCTestCase {
    func testModelListDetailAndExport() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let list = try harness.curl("/v1/models")
        XCTAssertEqual(list.status, 200)
        let models = try XCTUnwrap(list.object["models"] as? [[String: Any]])
        XCTAssertEqual(models.first?["name"] as? String, "fashion-cnn")
        XCTAssertEqual(models.first?["default"] as? Bool, true)

        let detail = try harness.curl("/v1/models/fashion-cnn")
        XCTAssertEqual(detail.status, 200)
        let card = try XCTUnwrap(detail.object["card"] as? [String: Any])
        XCTAssertEqual((card["labels"] as? [String])?.count, 10)
        XCTAssertEqual((card["weights_sha256"] as? String)?.count, 64)
        let analysis = try XCTUnwrap(detail.object["analysis"] as? [String: Any])
        let layers = try XCTUnwrap(analysis["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.first?["output_shape"] as? [Int], [32, 28, 28])
        XCTAssertNotNil(layers.last?["receptive_field"] as? [String: Any])
        XCTAssertGreaterThan(analysis["total_params"] as? Int ?? 0, 100_000)

        let export = try harness.curl("/v1/models/fashion-cnn/export?format=safetensors")
        XCTAssertEqual(export.status, 200)
        let tensors = try Safetensors.decode(export.body)
        XCTAssertEqual(tensors["conv1.weight"]?.shape, [32, 1, 3, 3])
        XCTAssertEqual(try harness.curl("/v1/models/fashion-cnn/export?format=pickle").status, 400)
        XCTAssertEqual(try harness.curl("/v1/models/nothing").errorCode, "not_found")
    }

    /// Export the default model to ONNX, upload it back as a new model, and get the same answers.
    func testONNXExportUploadClassifyAndDelete() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let export = try harness.curl("/v1/models/fashion-cnn/export?format=onnx")
        XCTAssertEqual(export.status, 200, export.text)
        let file = harness.dataDirectory.appendingPathComponent("exported.onnx")
        try export.body.write(to: file)
        let labels = (try harness.curl("/v1/models/fashion-cnn").object["card"] as? [String: Any])?["labels"] as? [String] ?? []
        let upload = try harness.curl("/v1/models", ["-F", "file=@\(file.path)", "-F", "name=fashion-onnx",
                                                     "-F", "labels=\(labels.joined(separator: "\n"))", "-F", "preprocessing=fashion-mnist"])
        XCTAssertEqual(upload.status, 201, upload.text)
        XCTAssertEqual(upload.object["format"] as? String, "onnx")
        // Under a name in use an upload adds a version, and is checked like any other.
        let labelsMismatch = try harness.curl("/v1/models", ["-F", "file=@\(file.path)", "-F", "name=fashion-onnx", "-F", "labels=a",
                                                             "-F", "preprocessing=fashion-mnist"])
        XCTAssertEqual(labelsMismatch.status, 422, labelsMismatch.text)
        XCTAssertTrue(labelsMismatch.text.contains("10 classes"), labelsMismatch.text)
        let photo = try ServiceHarness.photos()[0]
        let native = try harness.post("/v1/models/fashion-cnn/classify?top_k=10", file: photo).object["predictions"] as? [[String: Any]]
        let onnx = try harness.post("/v1/models/fashion-onnx/classify?top_k=10", file: photo).object["predictions"] as? [[String: Any]]
        XCTAssertEqual(native?.compactMap { $0["index"] as? Int }, onnx?.compactMap { $0["index"] as? Int })
        for (a, b) in zip(native ?? [], onnx ?? []) {
            XCTAssertEqual(a["logit"] as? Double ?? 0, b["logit"] as? Double ?? 1, accuracy: 1e-3)
        }
        XCTAssertEqual(try harness.post("/v1/models/fashion-onnx/saliency?method=gradcam", file: photo).status, 200)
        XCTAssertEqual(try harness.curl("/v1/models/fashion-onnx", ["-X", "DELETE"]).status, 204)
        XCTAssertEqual(try harness.curl("/v1/models/fashion-onnx").status, 404)

        let broken = harness.dataDirectory.appendingPathComponent("broken.onnx")
        try export.body.prefix(export.body.count / 2).write(to: broken)
        let refused = try harness.curl("/v1/models", ["-F", "file=@\(broken.path)", "-F", "name=broken", "-F", "labels=a"])
        XCTAssertEqual(refused.status, 422, refused.text)
        XCTAssertEqual(refused.errorCode, "invalid_model")
        XCTAssertEqual(try harness.curl("/v1/models", ["-F", "file=@\(file.path)", "-F", "name=../../etc", "-F", "labels=a"]).status, 400)
    }

    func testStateChangingRoutesNeedTheToken() throws {
        let harness = try ServiceHarness { $0.apiToken = "s3cret" }
        defer { harness.stop() }
        XCTAssertEqual(try harness.curl("/v1/models/fashion-cnn", ["-X", "DELETE"]).status, 401)
        XCTAssertEqual(try harness.curl("/v1/models/fashion-cnn", ["-X", "DELETE", "-H", "Authorization: Bearer wrong"]).status, 401)
        let authorized = try harness.curl("/v1/models/fashion-cnn", ["-X", "DELETE", "-H", "Authorization: Bearer s3cret"])
        XCTAssertEqual(authorized.status, 409, "the default model cannot be deleted: \(authorized.text)")
        XCTAssertEqual(try harness.curl("/v1/models/ghost", ["-X", "DELETE", "-H", "Authorization: Bearer s3cret"]).status, 404)
        XCTAssertEqual(try harness.curl("/v1/models", ["-X", "POST", "-F", "name=x"]).status, 401)
        XCTAssertEqual(try harness.curl("/v1/models").status, 200, "reads stay open")
    }

    func testModelWithWrongChecksumIsRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("salient-\(UUID().uuidString)")
        let first = try ServiceHarness(dataDirectory: directory)
        first.service.shutdown(grace: 1)
        let models = directory.appendingPathComponent("models")
        try FileManager.default.copyItem(at: models.appendingPathComponent("fashion-cnn"), to: models.appendingPathComponent("tampered"))
        let copy = models.appendingPathComponent("tampered/1")
        var card = try ModelCard(json: Data(contentsOf: copy.appendingPathComponent("card.json")))
        card.name = "tampered"
        try card.jsonData().write(to: copy.appendingPathComponent("card.json"))
        var weights = try Data(contentsOf: copy.appendingPathComponent("weights.safetensors"))
        weights[weights.count - 1] ^= 0xFF
        try weights.write(to: copy.appendingPathComponent("weights.safetensors"))

        let second = try ServiceHarness(dataDirectory: directory)
        defer { second.stop() }
        let names = (try second.curl("/v1/models").object["models"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        XCTAssertEqual(names, ["fashion-cnn"])
        XCTAssertEqual(try second.curl("/v1/models/tampered/classify", ["-X", "POST", "--data-binary", "x"]).status, 404)
        // The repository index says why it is not served.
        let index = try second.curl("/v2/repository/index", ["-X", "POST", "--data-binary", ""]).json as? [[String: String]]
        let tampered = try XCTUnwrap(index?.first { $0["name"] == "tampered" })
        XCTAssertEqual(tampered["state"], "UNAVAILABLE")
        XCTAssertTrue(tampered["reason"]?.contains("checksum") == true, "\(tampered)")
    }

    func testHealthMetricsOpenAPIAndKServe() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        XCTAssertEqual(try harness.curl("/healthz").object["status"] as? String, "ok")
        XCTAssertEqual(try harness.curl("/readyz").status, 200)
        let photo = try ServiceHarness.photos()[0]
        _ = try harness.post("/v1/classify", file: photo)
        let metrics = try harness.curl("/metrics").text
        XCTAssertTrue(metrics.contains("salient_inference_seconds_count{model=\"fashion-cnn\",kind=\"classify\"} 1"), metrics)
        XCTAssertTrue(metrics.contains("salient_models_loaded 1"))
        XCTAssertTrue(metrics.contains("salient_http"))

        let spec = try harness.curl("/openapi.json").object
        let paths = try XCTUnwrap(spec["paths"] as? [String: Any])
        for path in ["/v1/models", "/v1/models/{name}", "/v1/models/{name}/classify", "/v1/models/{name}/saliency",
                     "/v1/saliency/{id}.png", "/v1/jobs", "/v1/datasets", "/v2/models/{name}/infer", "/healthz", "/metrics"] {
            XCTAssertNotNil(paths[path], path)
        }

        XCTAssertEqual(try harness.curl("/v2/health/live").object["live"] as? Bool, true)
        let metadata = try harness.curl("/v2/models/fashion-cnn").object
        XCTAssertEqual((metadata["inputs"] as? [[String: Any]])?.first?["shape"] as? [Int], [-1, 1, 28, 28])
        let zeros = [Float](repeating: 0, count: 2 * 784).map { "\($0)" }.joined(separator: ",")
        let body = #"{"inputs":[{"name":"input","shape":[2,1,28,28],"datatype":"FP32","data":["# + zeros + "]}]}"
        let infer = try harness.curl("/v2/models/fashion-cnn/infer", ["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", body])
        XCTAssertEqual(infer.status, 200, infer.text)
        let output = try XCTUnwrap((infer.object["outputs"] as? [[String: Any]])?.first)
        XCTAssertEqual(output["shape"] as? [Int], [2, 10])
        let json = ["-X", "POST", "-H", "Content-Type: application/json", "--data-binary"]
        let bad = try harness.curl("/v2/models/fashion-cnn/infer", json + [#"{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}"#])
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual(try harness.curl("/v2/models/fashion-cnn/infer", json + ["{"]).status, 400)
    }
}
