import Foundation
import XCTest

/// KServe's v1 protocol at its edges on the default model (1x28x28); the kserve SDK drives the
/// common paths in Tests/clients. Errors here are /v1's, {"error": {"code", "message"}}.
final class KServeV1Tests: XCTestCase {
    private var harness: ServiceHarness!

    override func setUpWithError() throws {
        harness = try ServiceHarness()
    }

    override func tearDown() {
        harness.stop()
    }

    private func post(_ path: String, _ body: String) throws -> ServiceHarness.Response {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("v1-\(UUID().uuidString).json")
        try Data(body.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        return try harness.curl(path, ["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@\(file.path)"])
    }

    func testPredictTakesTensorsAndImagesAndAgreesWithClassify() throws {
        let photo = try ServiceHarness.photos()[0]
        let encoded = try Data(contentsOf: photo).base64EncodedString()
        let images = try post("/v1/models/fashion-cnn:predict", #"{"instances": [{"b64": ""# + encoded
            + #""}, {"image_bytes": {"b64": ""# + encoded + #""}, "key": "2"}]}"#)
        XCTAssertEqual(images.status, 200, images.text)
        let predictions = try XCTUnwrap(images.object["predictions"] as? [[String: Any]])
        XCTAssertEqual(predictions.count, 2)
        XCTAssertEqual((predictions[0]["logits"] as? [Double])?.count, 10)
        let classified = try XCTUnwrap((try harness.post("/v1/models/fashion-cnn/classify", file: photo).object["predictions"]
            as? [[String: Any]])?.first)
        for prediction in predictions {
            XCTAssertEqual(prediction["index"] as? Int, classified["index"] as? Int)
            XCTAssertEqual(prediction["probability"] as? Double ?? 0, classified["probability"] as? Double ?? 1, accuracy: 1e-6)
        }
        let zeros = [[[Float]]](repeating: [[Float]](repeating: [Float](repeating: 0, count: 28), count: 28), count: 1)
        let tensor = try post("/v1/models/fashion-cnn:predict", #"{"instances": [\#(zeros)]}"#)
        XCTAssertEqual((tensor.object["predictions"] as? [[String: Any]])?.count, 1, tensor.text)
    }

    func testBadInstancesAreNamed() throws {
        let zeros = [Float](repeating: 0, count: 784)
        for (body, needle) in [
            (#"{"instances": []}"#, "empty"),
            (#"{"instances": [{"image": "not b64 in an object"}]}"#, "instances[0]"),
            (#"{"instances": [{"b64": "%%%"}]}"#, "instances[0]"),
            (#"{"instances": [[1, 2, 3]]}"#, "3 values"),
            (#"{"instances": [\#(zeros), {"b64": "AAAA"}]}"#, "not both"),
            (#"{"inputs": [1]}"#, "instances"),
        ] {
            let response = try post("/v1/models/fashion-cnn:predict", body)
            XCTAssertEqual(response.status, 400, body)
            XCTAssertEqual(response.errorCode, "bad_parameter", response.text)
            XCTAssertTrue(response.text.contains(needle), "\(needle): \(response.text)")
        }
        XCTAssertEqual(try post("/v1/models/nothing:predict", #"{"instances": [[1]]}"#).status, 404)
        let tensor = try post("/v1/models/fashion-cnn:explain", #"{"instances": [\#(zeros)]}"#)
        XCTAssertEqual(tensor.status, 400, tensor.text)
        let method = try post("/v1/models/fashion-cnn:explain", #"{"instances": [{"b64": "AAAA"}], "parameters": {"method": "magic"}}"#)
        XCTAssertTrue(method.text.contains("method must be one of"), method.text)
    }
}
