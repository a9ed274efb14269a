import CNN
import Foundation
import Imaging
import XCTest

/// Classification and saliency end to end with curl, on every shared photo.
final class ClassificationTests: XCTestCase {
    var harness: ServiceHarness!

    override func setUpWithError() throws { harness = try ServiceHarness() }
    override func tearDown() { harness.stop() }

    func testEveryPhotoIsClassified() throws {
        for photo in try ServiceHarness.photos() {
            let response = try harness.post("/v1/classify?top_k=5", file: photo)
            XCTAssertEqual(response.status, 200, "\(photo.lastPathComponent): \(response.text)")
            let predictions = try XCTUnwrap(response.object["predictions"] as? [[String: Any]], photo.lastPathComponent)
            XCTAssertEqual(predictions.count, 5)
            let probabilities = predictions.compactMap { $0["probability"] as? Double }
            XCTAssertEqual(probabilities, probabilities.sorted(by: >))
            XCTAssertLessThanOrEqual(probabilities.reduce(0, +), 1.0001)
            XCTAssertNotNil(predictions[0]["label"] as? String)
            XCTAssertNotNil((response.object["timing_ms"] as? [String: Any])?["inference"])
            XCTAssertEqual(response.object["model"] as? String, "fashion-cnn")
        }
    }

    func testMultipartWithSeveralImagesAnswersAnArray() throws {
        let photos = try ServiceHarness.photos()
        let response = try harness.curl("/v1/models/fashion-cnn/classify?top_k=2",
                                        ["-F", "a=@\(photos[0].path)", "-F", "b=@\(photos[1].path)"])
        XCTAssertEqual(response.status, 200, response.text)
        let results = try XCTUnwrap(response.json as? [[String: Any]])
        XCTAssertEqual(results.count, 2)
        XCTAssertEqual((results[1]["predictions"] as? [Any])?.count, 2)
    }

    func testEverySaliencyMethodRendersAtTheOriginalSize() throws {
        let photo = try XCTUnwrap(try ServiceHarness.photos().first { $0.lastPathComponent == "chelsea.png" })
        let original = try ImageDecoder.decode(Data(contentsOf: photo))
        for method in ["gradient", "smoothgrad", "integrated_gradients", "gradcam", "guided_backprop"] {
            let png = try harness.post("/v1/models/fashion-cnn/saliency?method=\(method)&colormap=viridis", file: photo)
            XCTAssertEqual(png.status, 200, "\(method): \(png.text)")
            XCTAssertEqual(png.headers["content-type"], "image/png")
            let size = try XCTUnwrap(pngSize(png.body), method)
            XCTAssertEqual(size.0, original.width)
            XCTAssertEqual(size.1, original.height)

            let json = try harness.post("/v1/models/fashion-cnn/saliency?method=\(method)&format=json&class=Bag&overlay=false", file: photo)
            XCTAssertEqual(json.status, 200, json.text)
            XCTAssertEqual((json.object["class"] as? [String: Any])?["label"] as? String, "Bag")
            let map = try XCTUnwrap(json.object["map"] as? [String: Any])
            XCTAssertEqual(map["width"] as? Int, 28)
            XCTAssertEqual((map["values"] as? [Double])?.count, 28 * 28)
            XCTAssertEqual(json.object["completeness_error"] != nil, method == "integrated_gradients")
            let url = try XCTUnwrap(json.object["png_url"] as? String)
            let stored = try harness.curl(url)
            XCTAssertEqual(stored.status, 200)
            XCTAssertEqual(pngSize(stored.body)?.0, original.width)
        }
    }

    /// The sampling methods' parameters reach the computation: the steps run are the steps
    /// asked for, in batches, with every rule and baseline; a refused count names its setting.
    func testSaliencyParametersAreHonored() throws {
        let photo = try ServiceHarness.photos()[0]
        for rule in IntegrationRule.allCases {
            for baseline in SaliencyBaseline.allCases {
                let json = try harness.post("/v1/models/fashion-cnn/saliency?method=integrated_gradients&steps=6&ig_method="
                    + "\(rule.rawValue)&baseline=\(baseline.rawValue)&format=json", file: photo)
                XCTAssertEqual(json.status, 200, json.text)
                XCTAssertEqual(json.object["steps"] as? Int, 6)
                XCTAssertEqual(json.object["batch_size"] as? Int, 6, "fashion-cnn's six steps fit max_saliency_batch_bytes")
                XCTAssertNotNil(json.object["completeness_error"] as? Double)
            }
        }
        let smooth = try harness.post("/v1/models/fashion-cnn/saliency?method=smoothgrad&steps=3&sigma=0.3&format=json", file: photo)
        XCTAssertEqual(smooth.object["steps"] as? Int, 3, smooth.text)
        let gradcam = try harness.post("/v1/models/fashion-cnn/saliency?method=gradcam&layer=relu2&format=json", file: photo)
        XCTAssertEqual(gradcam.status, 200, gradcam.text)
        let refused = try harness.post("/v1/models/fashion-cnn/saliency?method=smoothgrad&steps=257", file: photo)
        XCTAssertEqual(refused.status, 422)
        XCTAssertTrue(refused.text.contains("max_saliency_steps"), refused.text)
    }

    func testBadInputGetsClearErrors() throws {
        let photo = try ServiceHarness.photos()[0]
        let garbage = FileManager.default.temporaryDirectory.appendingPathComponent("garbage-\(UUID())")
        try Data("this is not an image".utf8).write(to: garbage)
        defer { try? FileManager.default.removeItem(at: garbage) }
        let truncated = FileManager.default.temporaryDirectory.appendingPathComponent("truncated-\(UUID())")
        try Data(contentsOf: photo).prefix(2000).write(to: truncated)
        defer { try? FileManager.default.removeItem(at: truncated) }

        let cases: [(String, URL, Int, String)] = [
            ("/v1/classify", garbage, 415, "unsupported_media_type"),
            ("/v1/classify", truncated, 400, "corrupt_image"),
            ("/v1/classify?top_k=0", photo, 400, "bad_parameter"),
            ("/v1/classify?top_k=abc", photo, 400, "bad_parameter"),
            ("/v1/models/unknown/classify", photo, 404, "not_found"),
            ("/v1/models/fashion-cnn/saliency?method=magic", photo, 400, "bad_parameter"),
            ("/v1/models/fashion-cnn/saliency?class=99", photo, 400, "bad_parameter"),
            ("/v1/models/fashion-cnn/saliency?class=Spaceship", photo, 400, "bad_parameter"),
            ("/v1/models/fashion-cnn/saliency?colormap=rainbow", photo, 400, "bad_parameter"),
            ("/v1/models/fashion-cnn/saliency?alpha=2", photo, 400, "bad_parameter"),
            ("/v1/models/fashion-cnn/saliency?format=gif", photo, 400, "bad_parameter"),
            ("/v1/models/fashion-cnn/saliency?method=integrated_gradients&steps=100000", photo, 422, "limit_exceeded"),
            ("/v1/models/fashion-cnn/saliency?method=smoothgrad&steps=0", photo, 400, "bad_parameter"),
            ("/v1/models/fashion-cnn/saliency?method=smoothgrad&sigma=-1", photo, 400, "bad_parameter"),
            ("/v1/models/fashion-cnn/saliency?method=integrated_gradients&ig_method=simpson", photo, 400, "bad_parameter"),
            ("/v1/models/fashion-cnn/saliency?method=integrated_gradients&ig_method=riemann_left&steps=1", photo, 400, "bad_parameter"),
            ("/v1/models/fashion-cnn/saliency?method=integrated_gradients&baseline=gray", photo, 400, "bad_parameter"),
            ("/v1/models/fashion-cnn/saliency?method=gradcam&layer=nowhere", photo, 400, "bad_parameter"),
        ]
        for (path, file, status, code) in cases {
            let response = try harness.post(path, file: file)
            XCTAssertEqual(response.status, status, "\(path): \(response.text)")
            XCTAssertEqual(response.errorCode, code, "\(path): \(response.text)")
            XCTAssertNotNil((response.object["error"] as? [String: Any])?["message"] as? String)
        }
        let empty = try harness.curl("/v1/classify", ["-X", "POST", "--data-binary", ""])
        XCTAssertEqual(empty.status, 415)
        XCTAssertEqual(try harness.curl("/v1/saliency/0123456789abcdef0123456789abcdef.png").status, 404)
        XCTAssertEqual(try harness.curl("/v1/saliency/..%2f..%2fetc%2fpasswd.png").status, 404)
    }

    func testLimitsAnswer413And422() throws {
        harness.stop()
        harness = try ServiceHarness { configuration in
            configuration.server.maxBodyBytes = 200_000
            configuration.maxImagePixels = 10_000
        }
        let photos = try ServiceHarness.photos()
        let big = try XCTUnwrap(photos.max { (try? Data(contentsOf: $0).count) ?? 0 < (try? Data(contentsOf: $1).count) ?? 0 })
        XCTAssertEqual(try harness.post("/v1/classify", file: big).status, 413)
        let small = try XCTUnwrap(photos.first { $0.lastPathComponent == "kitten_224.png" })
        let tooManyPixels = try harness.post("/v1/classify", file: small)
        XCTAssertEqual(tooManyPixels.status, 422, tooManyPixels.text)
        XCTAssertEqual(tooManyPixels.errorCode, "image_too_large")
    }

    func testOverloadAnswers503() throws {
        harness.stop()
        harness = try ServiceHarness { configuration in
            configuration.inferenceThreads = 1
            configuration.maxQueuedRequests = 0
            configuration.server.handlerConcurrency = 8
        }
        let photo = try XCTUnwrap(try ServiceHarness.photos().first { $0.lastPathComponent == "chelsea.png" })
        // Four times the handlers at once.
        let answers = try harness.burst("/v1/models/fashion-cnn/saliency?method=smoothgrad", file: photo, count: 32)
        let all = answers.map(\.status)
        XCTAssertTrue(all.contains(200), "\(all)")
        XCTAssertTrue(all.contains(503), "\(all)")
        XCTAssertTrue(all.allSatisfy { $0 == 200 || $0 == 503 }, "\(all)")
        XCTAssertTrue(answers.filter { $0.status == 503 }.allSatisfy { $0.header("retry-after") == "1" })
        let shed = all.filter { $0 == 503 }.count
        XCTAssertTrue(try harness.curl("/metrics").text.contains(
            #"salient_http_requests_shed_total{queue="inference",reason="queue_full"} \#(shed)"#), "every 503 is counted")
    }
}
