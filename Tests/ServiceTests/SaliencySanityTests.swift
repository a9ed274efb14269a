import CNN
import Foundation
import Imaging
import Service
import XCTest

/// The sanity check of Adebayo et al. (2018) on the trained default model: guided backprop's
/// maps barely change while the layers are randomized from the top, the gradient's do.
final class SaliencySanityTests: XCTestCase {
    var harness: ServiceHarness!

    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: FashionMNIST.directory.path) else {
            throw XCTSkip("dataset-fashion-mnist is not installed")
        }
        harness = try ServiceHarness()
    }

    override func tearDown() { harness?.stop() }

    /// Test image `index` of Fashion-MNIST as a PNG file.
    private func testImage(_ index: Int) throws -> URL {
        let test = try FashionMNIST.load(training: false, limit: index + 1)
        let pixels = test.images.scalars[(index * 784)..<((index + 1) * 784)].map { UInt8(($0 * 255).rounded()) }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fashion-\(index)-\(UUID()).png")
        try Data(PNGEncoder.encode(Image(width: 28, height: 28, channels: 1, pixels: Array(pixels)))).write(to: url)
        return url
    }

    func testGuidedBackpropIsFlaggedAndTheGradientIsNot() throws {
        for index in [0, 1, 2] {
            let image = try testImage(index)
            defer { try? FileManager.default.removeItem(at: image) }
            let before = try harness.post("/v1/models/fashion-cnn/classify?top_k=10", file: image).object["predictions"] as? NSArray
            let check = try harness.post("/v1/models/fashion-cnn/saliency/sanity?methods=gradient,guided_backprop,gradcam", file: image)
            XCTAssertEqual(check.status, 200, check.text)
            XCTAssertEqual(check.object["layers"] as? [String], ["fc2", "fc1", "conv2", "conv1"], "every weighted layer, top first")
            let methods = try XCTUnwrap(check.object["methods"] as? [[String: Any]])
            let flagged = Dictionary(uniqueKeysWithValues: methods.map { ($0["method"] as! String, $0["flagged"] as! Bool) })
            XCTAssertEqual(flagged["guided_backprop"], true, "image \(index): \(check.text)")
            XCTAssertEqual(flagged["gradient"], false, "image \(index): \(check.text)")
            XCTAssertEqual(check.object["flagged"] as? [String], methods.filter { $0["flagged"] as! Bool }.map { $0["method"] as! String })
            for method in methods { XCTAssertEqual((method["spearman"] as? [Any])?.count, 4) }
            XCTAssertEqual(try harness.post("/v1/models/fashion-cnn/classify?top_k=10", file: image).object["predictions"] as? NSArray,
                           before, "the served model is untouched")

            // The verdict travels with every later map of that method.
            let guided = try harness.post("/v1/models/fashion-cnn/saliency?method=guided_backprop&format=json", file: image)
            XCTAssertEqual((guided.object["sanity"] as? [String: Any])?["flagged"] as? Bool, true, guided.text)
            let png = try harness.post("/v1/models/fashion-cnn/saliency?method=gradient", file: image)
            XCTAssertTrue(png.headers["x-saliency-sanity"]?.hasPrefix("passed") ?? false, "\(png.headers)")
        }
    }

    func testTheCheckIsBoundedBeforeAnyWork() throws {
        let image = try testImage(0)
        defer { try? FileManager.default.removeItem(at: image) }
        let unchecked = try harness.post("/v1/models/fashion-cnn/saliency?method=smoothgrad&steps=2&format=json", file: image)
        XCTAssertNil(unchecked.object["sanity"], "no verdict before a check")
        // Five methods at 256 steps over 4 layers: (1 + 1 + 1 + 256 + 256) x 5 passes.
        let refused = try harness.post("/v1/models/fashion-cnn/saliency/sanity?steps=256", file: image)
        XCTAssertEqual(refused.status, 422, refused.text)
        XCTAssertTrue(refused.text.contains("max_sanity_passes") && refused.text.contains("2575"), refused.text)
        let shallow = try harness.post("/v1/models/fashion-cnn/saliency/sanity?methods=smoothgrad&steps=2&layers=1", file: image)
        XCTAssertEqual(shallow.status, 200, shallow.text)
        XCTAssertEqual(shallow.object["layers"] as? [String], ["fc2"])
        XCTAssertEqual(shallow.object["passes"] as? Int, 4)
        for (query, status) in [("methods=magic", 400), ("methods=gradient,gradient", 400), ("layers=0", 400), ("class=top3", 400)] {
            XCTAssertEqual(try harness.post("/v1/models/fashion-cnn/saliency/sanity?\(query)", file: image).status, status, query)
        }
    }
}
