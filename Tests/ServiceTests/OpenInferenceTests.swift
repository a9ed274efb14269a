import Foundation
import XCTest

/// The Open Inference Protocol's wire format at its edges, on the default model (1x28x28): nested
/// and base64 JSON data, binary tensor data that lies about its sizes, shapes that overflow, and
/// the error envelope of every /v2 answer. tritonclient and the kserve SDK drive the common paths
/// in Tests/clients.
final class OpenInferenceTests: XCTestCase {
    private var harness: ServiceHarness!

    override func setUpWithError() throws {
        harness = try ServiceHarness()
    }

    override func tearDown() {
        harness.stop()
    }

    /// POSTs `body` as JSON, from a file: an image in base64 is longer than one argument may be.
    private func infer(_ body: String) throws -> ServiceHarness.Response {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("infer-\(UUID().uuidString).json")
        try Data(body.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        return try harness.curl("/v2/models/fashion-cnn/infer", ["-X", "POST", "-H", "Content-Type: application/json",
                                                                 "--data-binary", "@\(file.path)"])
    }

    /// POSTs `header` followed by `binary` with Inference-Header-Content-Length set to the header's length.
    private func inferBinary(_ header: String, _ binary: Data, headerLength: Int? = nil) throws -> ServiceHarness.Response {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("infer-\(UUID().uuidString)")
        try (Data(header.utf8) + binary).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        return try harness.curl("/v2/models/fashion-cnn/infer", [
            "-X", "POST", "-H", "Content-Type: application/octet-stream",
            "-H", "Inference-Header-Content-Length: \(headerLength ?? header.utf8.count)", "--data-binary", "@\(file.path)"])
    }

    private func logits(_ response: ServiceHarness.Response) throws -> [Double] {
        XCTAssertEqual(response.status, 200, response.text)
        let output = try XCTUnwrap((response.object["outputs"] as? [[String: Any]])?.first)
        return try XCTUnwrap(output["data"] as? [Double])
    }

    /// The message alone, as the protocol's clients read it.
    private func message(_ response: ServiceHarness.Response, _ status: Int, file: StaticString = #filePath,
                         line: UInt = #line) -> String {
        XCTAssertEqual(response.status, status, response.text, file: file, line: line)
        let text = response.object["error"] as? String
        XCTAssertNotNil(text, "not {\"error\": \"<message>\"}: \(response.text)", file: file, line: line)
        return text ?? ""
    }

    func testDataMayBeNestedAsTheShape() throws {
        let values = (0..<784).map { Float($0 % 17) / 17 }
        let flat = try logits(infer(#"{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":"#
            + "\(values)}]}"))
        let rows = stride(from: 0, to: 784, by: 28).map { "\(Array(values[$0..<($0 + 28)]))" }.joined(separator: ",")
        let nested = try logits(infer(#"{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":[[["#
            + rows + "]]]}]}"))
        XCTAssertEqual(flat, nested)
        XCTAssertEqual(flat.count, 10)
    }

    /// BYTES in JSON are strings; an image travels as base64 with MLServer's content_type parameter,
    /// and its top class is what /v1 classification finds.
    func testBase64ImagesInJSON() throws {
        let photo = try ServiceHarness.photos().first { $0.lastPathComponent == "chelsea.png" } ?? ServiceHarness.photos()[0]
        let encoded = try Data(contentsOf: photo).base64EncodedString()
        let response = try infer(#"{"inputs":[{"name":"input","shape":[1],"datatype":"BYTES","parameters":{"content_type":"base64"},"#
            + #""data":[""# + encoded + #""]}],"outputs":[{"name":"logits","parameters":{"classification":1}}]}"#)
        XCTAssertEqual(response.status, 200, response.text)
        let top = try XCTUnwrap(((response.object["outputs"] as? [[String: Any]])?.first?["data"] as? [String])?.first)
        let classified = try harness.post("/v1/models/fashion-cnn/classify?top_k=1", file: photo)
        let best = try XCTUnwrap((classified.object["predictions"] as? [[String: Any]])?.first)
        XCTAssertEqual(top.split(separator: ":").dropFirst().joined(separator: ":"), "\(best["index"]!):\(best["label"]!)")
        let notBase64 = try infer(#"{"inputs":[{"name":"input","shape":[1],"datatype":"BYTES","parameters":{"content_type":"base64"},"data":["%%"]}]}"#)
        XCTAssertTrue(message(notBase64, 400).contains("base64"))
    }

    /// Binary data whose sizes do not add up is refused before any of it is used.
    func testBinaryDataThatLiesAboutItsSize() throws {
        let zeros = Data(count: 784 * 4)
        let header = #"{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","parameters":{"binary_data_size":3136}}],"#
            + #""outputs":[{"name":"logits","parameters":{"binary_data":true}}]}"#
        let good = try inferBinary(header, zeros)
        XCTAssertEqual(good.status, 200, good.text)
        XCTAssertEqual(good.headers["content-type"], "application/octet-stream")
        let jsonLength = try XCTUnwrap(Int(good.headers["inference-header-content-length"] ?? ""))
        XCTAssertEqual(good.body.count, jsonLength + 40, "ten FP32 logits after the JSON")

        XCTAssertTrue(message(try inferBinary(header, zeros.dropLast(4)), 400).contains("remain"))
        XCTAssertTrue(message(try inferBinary(header, zeros + Data(count: 4)), 400).contains("follow"))
        XCTAssertTrue(message(try inferBinary(header, zeros, headerLength: 1 << 30), 400).contains("Inference-Header-Content-Length"))
        XCTAssertTrue(message(try inferBinary(header, zeros, headerLength: -1), 400).contains("Inference-Header-Content-Length"))
        let negative = header.replacingOccurrences(of: "3136", with: "-8")
        XCTAssertEqual(try inferBinary(negative, zeros).status, 400)
        let both = #"{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":[1],"parameters":{"binary_data_size":3136}}]}"#
        XCTAssertTrue(message(try inferBinary(both, zeros), 400).contains("both"))
        // BYTES elements each declare their length; one that runs past the data is refused.
        var element = Data([255, 255, 0, 0])
        element.append(Data(count: 10))
        let bytes = #"{"inputs":[{"name":"input","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":14}}]}"#
        XCTAssertTrue(message(try inferBinary(bytes, element), 400).contains("BYTES"))
        XCTAssertTrue(message(try inferBinary(bytes.replacingOccurrences(of: "14", with: "2"), Data([1, 0])), 400)
            .contains("4-byte length"))
    }

    func testShapesThatCannotBeAreRefused() throws {
        for shape in ["[1,1,-28,28]", "[4294967296,4294967296,4294967296]", "[9223372036854775807,2]"] {
            let response = try infer(#"{"inputs":[{"name":"input","shape":"# + shape + #","datatype":"FP32","data":[0]}]}"#)
            XCTAssertTrue(message(response, 400).contains("shape"), shape)
        }
        let unknownType = try infer(#"{"inputs":[{"name":"input","shape":[1],"datatype":"FP31","data":[0]}]}"#)
        XCTAssertTrue(message(unknownType, 400).contains("FP31"))
        let twice = try infer(#"{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":"#
            + "\([Float](repeating: 0, count: 784))}],"
            + #""outputs":[{"name":"logits"},{"name":"logits","parameters":{"classification":2}}]}"#)
        XCTAssertTrue(message(twice, 400).contains("twice"))
        let zeroClasses = try infer(#"{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":"#
            + "\([Float](repeating: 0, count: 784))}],"
            + #""outputs":[{"name":"logits","parameters":{"classification":0}}]}"#)
        XCTAssertTrue(message(zeroClasses, 400).contains("classification"))
    }

    /// perf_analyzer compares two snapshots of the statistics and stops when their stage counts
    /// differ: a request's stages are counted together, so no snapshot taken while requests run
    /// (batched, direct, and through /v1 classification) ever sees more of one stage than another.
    func testStageCountsAgreeInEverySnapshotUnderLoad() throws {
        let zeros = [Float](repeating: 0.5, count: 2 * 784)
        let batchOfTwo = #"{"inputs":[{"name":"input","shape":[2,1,28,28],"datatype":"FP32","data":\#(zeros)}]}"#
        let single = #"{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":\#(Array(zeros.prefix(784)))}]}"#
        let photo = try ServiceHarness.photos()[0]
        let done = DispatchGroup()
        for client in 0..<4 {
            done.enter()
            Thread.detachNewThread { [harness] in
                defer { done.leave() }
                for _ in 0..<12 {
                    switch client {
                    case 0: _ = try? harness!.post("/v1/models/fashion-cnn/classify", file: photo)
                    case 1: _ = try? self.infer(batchOfTwo)
                    default: _ = try? self.infer(single)
                    }
                }
            }
        }
        var snapshots = 0
        repeat {
            let stats = try XCTUnwrap((try harness.curl("/v2/models/fashion-cnn/stats").object["model_stats"] as? [[String: Any]])?.first)
            let stages = try XCTUnwrap(stats["inference_stats"] as? [String: [String: Int]])
            let counts = ["success", "queue", "compute_input", "compute_infer", "compute_output"].map { stages[$0]?["count"] ?? -1 }
            XCTAssertEqual(Set(counts).count, 1, "stage counts differ in one snapshot: \(stages)")
            snapshots += 1
        } while done.wait(timeout: .now()) == .timedOut
        let final = try XCTUnwrap((try harness.curl("/v2/models/fashion-cnn/stats").object["model_stats"] as? [[String: Any]])?.first)
        XCTAssertEqual((final["inference_stats"] as? [String: [String: Int]])?["success"]?["count"], 48)
        XCTAssertEqual(final["inference_count"] as? Int, 60, "the batches of two count twice")
        XCTAssertGreaterThan(snapshots, 1)
    }

    /// Every /v2 answer that is not a success, the server's own included, is {"error": "<message>"};
    /// /v1 keeps its structured errors.
    func testErrorsOnV2AreTheMessageAlone() throws {
        XCTAssertTrue(message(try harness.curl("/v2/models/nothing"), 404).contains("nothing"))
        XCTAssertFalse(message(try harness.curl("/v2/nowhere/at/all"), 404).isEmpty)
        XCTAssertFalse(message(try harness.curl("/v2", ["-X", "DELETE"]), 405).isEmpty)
        let textBody = try harness.curl("/v2/models/fashion-cnn/infer", ["-X", "POST", "-H", "Content-Type: text/plain", "--data", "{}"])
        XCTAssertTrue(message(textBody, 415).contains("application/json"))
        // A browser's untyped body could come from any page; tritonclient's, sent without a type, is taken.
        let fromPage = try harness.curl("/v2/models/fashion-cnn/infer", ["-X", "POST", "-H", "Content-Type:", "-H",
                                                                         "Origin: \(harness.base)", "--data-binary", "{}"])
        XCTAssertEqual(fromPage.status, 415, fromPage.text)
        let untyped = try harness.curl("/v2/models/fashion-cnn/infer", ["-X", "POST", "-H", "Content-Type:", "--data-binary", "{}"])
        XCTAssertTrue(message(untyped, 400).contains("inputs"))
        XCTAssertEqual(try harness.curl("/v1/models/nothing").errorCode, "not_found")

        let server = try harness.curl("/v2").object
        XCTAssertEqual(server["name"] as? String, "salient")
        XCTAssertTrue((server["extensions"] as? [String])?.contains("binary_tensor_data") == true)
        XCTAssertEqual(try harness.curl("/v2/health/ready").object["ready"] as? Bool, true)
        XCTAssertEqual(try harness.curl("/v2/models/fashion-cnn/ready").object["ready"] as? Bool, true)
    }
}
