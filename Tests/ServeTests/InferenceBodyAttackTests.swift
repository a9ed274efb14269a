import Foundation
import TestSupport
import XCTest

/// Inference bodies built to cost far more memory than they weigh, against the real
/// `salient serve`: JSON arrays of tens of millions of one-digit values (decoding JSON holds some
/// twenty bytes per value: a 58 MB body had taken 1.4 GB and 13 s) and BYTES binary data of
/// millions of empty elements, on /v2 and on KServe v1's :predict. Each is refused from its shape
/// or a count of its values before any is decoded.
final class InferenceBodyAttackTests: XCTestCase {
    func testValueBombsAreRefusedBeforeTheyAreDecoded() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        let values = 25_000_000
        let digits = Data(String(repeating: "0,", count: values).utf8) + Data("0".utf8)
        let fp32 = Data(#"{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":["#.utf8) + digits + Data("]}]}".utf8)
        let strings = Data(#"{"inputs":[{"name":"input","shape":[1],"datatype":"BYTES","data":["#.utf8)
            + Data(String(repeating: #""","#, count: values / 2).utf8) + Data(#""""]}]}"#.utf8)
        let instances = Data(#"{"instances":["#.utf8) + digits + Data("]}".utf8)
        let elements = 12_000_000
        let header = #"{"inputs":[{"name":"input","shape":[\#(elements)],"datatype":"BYTES","parameters":{"binary_data_size":\#(4 * elements)}}]}"#
        let bytes = Data(header.utf8) + Data(count: 4 * elements)
        let oneDeclared = header.replacingOccurrences(of: "[\(elements)]", with: "[1]")
        let undeclared = Data(oneDeclared.utf8) + Data(count: 4 * elements)

        var answers: [(String, ServeProcess.Response)] = []
        let peak = try server.peakMemory {
            answers.append(("JSON FP32", try server.request("POST", "/v2/models/fashion-cnn/infer", body: fp32, contentType: "application/json")))
            answers.append(("JSON BYTES", try server.request("POST", "/v2/models/fashion-cnn/infer", body: strings,
                                                            contentType: "application/json")))
            answers.append((":predict", try server.request("POST", "/v1/models/fashion-cnn:predict", body: instances,
                                                          contentType: "application/json")))
            answers.append(("binary BYTES", try server.request("POST", "/v2/models/fashion-cnn/infer", body: bytes,
                                                              headers: ["Inference-Header-Content-Length": "\(header.utf8.count)"])))
            answers.append(("binary BYTES past its shape", try server.request(
                "POST", "/v2/models/fashion-cnn/infer", body: undeclared, headers: ["Inference-Header-Content-Length": "\(oneDeclared.utf8.count)"])))
        }
        for (name, response) in answers {
            XCTAssertTrue([400, 413].contains(response.status), "\(name): \(response.text)")
            XCTAssertTrue(response.status == 400 || response.text.contains("max_batch_size"), "\(name): \(response.text)")
            XCTAssertLessThan(response.seconds, 5, name)
        }
        XCTAssertLessThan(peak, 350, "peak resident MB while refusing value bombs of about 50 MB each")
    }
}
