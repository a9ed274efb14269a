import CNN
import Foundation
import Imaging
import XCTest

/// Several classes in one saliency request, and maps on a fixed scale (normalize=none).
final class SaliencyAnswerTests: XCTestCase {
    var harness: ServiceHarness!

    override func setUpWithError() throws { harness = try ServiceHarness() }
    override func tearDown() { harness.stop() }

    private func photo() throws -> URL {
        try XCTUnwrap(try ServiceHarness.photos().first { $0.lastPathComponent == "chelsea.png" })
    }

    private func values(_ result: [String: Any]) throws -> [Double] {
        try XCTUnwrap((result["map"] as? [String: Any])?["values"] as? [Double])
    }

    func testTopKAndListsAnswerOneMapPerClassEachAsItIsAlone() throws {
        let photo = try photo()
        let classify = try harness.post("/v1/models/fashion-cnn/classify?top_k=3", file: photo)
        let ranked = try XCTUnwrap(classify.object["predictions"] as? [[String: Any]]).compactMap { $0["index"] as? Int }
        for method in ["gradient", "gradcam", "integrated_gradients"] {
            let top = try harness.post("/v1/models/fashion-cnn/saliency?method=\(method)&steps=4&format=json&class=top3", file: photo)
            XCTAssertEqual(top.status, 200, top.text)
            let maps = try XCTUnwrap(top.json as? [[String: Any]], "class=top3 answers an array")
            XCTAssertEqual(maps.compactMap { ($0["class"] as? [String: Any])?["index"] as? Int }, ranked, method)
            for (k, map) in maps.enumerated() {
                let alone = try harness.post("/v1/models/fashion-cnn/saliency?method=\(method)&steps=4&format=json&class=\(ranked[k])",
                                             file: photo)
                XCTAssertEqual(alone.object["score"] as? Double, map["score"] as? Double)
                for (a, b) in zip(try values(alone.object), try values(map)) { XCTAssertEqual(a, b, accuracy: 1e-5, method) }
                let stored = try harness.curl(try XCTUnwrap(map["png_url"] as? String))
                XCTAssertEqual(stored.status, 200, "each class's map has its own URL")
            }
        }
        let listed = try harness.post("/v1/models/fashion-cnn/saliency?format=json&class=Bag,0,Sneaker", file: photo)
        XCTAssertEqual((listed.json as? [[String: Any]])?.compactMap { ($0["class"] as? [String: Any])?["label"] as? String },
                       ["Bag", "T-shirt/top", "Sneaker"], listed.text)
        XCTAssertNotNil(try harness.post("/v1/models/fashion-cnn/saliency?format=json&class=top1", file: photo).object["class"],
                        "one class is one object, as before")
    }

    /// ImageNet's labels hold commas ("tench, Tinca tinca"): a value that is one whole label is
    /// that one class, and a list names such a class by its index.
    func testALabelWithCommasIsOneClass() throws {
        let export = try harness.curl("/v1/models/fashion-cnn/export?format=onnx")
        let file = harness.dataDirectory.appendingPathComponent("commas.onnx")
        try export.body.write(to: file)
        var labels = FashionMNIST.labels
        labels[8] = "Bag, handbag"
        let upload = try harness.curl("/v1/models", ["-F", "file=@\(file.path)", "-F", "name=commas",
                                                     "-F", "labels=\(labels.joined(separator: "\n"))", "-F", "preprocessing=fashion-mnist"])
        XCTAssertEqual(upload.status, 201, upload.text)
        let photo = try photo()
        let one = try harness.post("/v1/models/commas/saliency?format=json&class=Bag,%20handbag", file: photo)
        XCTAssertEqual((one.object["class"] as? [String: Any])?["label"] as? String, "Bag, handbag", one.text)
        let png = try harness.post("/v1/models/commas/saliency?class=Bag,%20handbag", file: photo)
        XCTAssertEqual(png.headers["x-saliency-class"], "8", "one map, not a grid")
        let list = try harness.post("/v1/models/commas/saliency?format=json&class=8,Sneaker", file: photo)
        XCTAssertEqual((list.json as? [[String: Any]])?.count, 2, list.text)
        let sanity = try harness.post("/v1/models/commas/saliency/sanity?methods=gradient&layers=1&class=Bag,%20handbag", file: photo)
        XCTAssertEqual((sanity.object["class"] as? [String: Any])?["index"] as? Int, 8, sanity.text)
    }

    func testSeveralClassesAsPNGAreOneGridInTheirOrder() throws {
        let photo = try photo()
        let original = try ImageDecoder.decode(Data(contentsOf: photo))
        let grid = try harness.post("/v1/models/fashion-cnn/saliency?class=top3", file: photo)
        XCTAssertEqual(grid.status, 200, grid.text)
        XCTAssertEqual(grid.headers["content-type"], "image/png")
        XCTAssertEqual(grid.headers["x-saliency-class"]?.split(separator: ",").count, 3)
        let size = try XCTUnwrap(pngSize(grid.body))
        // Two columns, two rows, 4 pixels apart: tiles of the photo's aspect, the grid within max_saliency_pixels.
        let image = try ImageDecoder.decode(grid.body)
        let tileWidth = (size.0 - 4) / 2, tileHeight = (size.1 - 4) / 2
        XCTAssertEqual(Double(tileWidth) / Double(tileHeight), Double(original.width) / Double(original.height), accuracy: 0.02)
        XCTAssertLessThanOrEqual(size.0 * size.1, 2_000_000 + 4 * (size.0 + size.1))
        XCTAssertEqual(image.pixels[((size.1 - 1) * size.0 + size.0 - 1) * 3], 255, "the fourth cell of three maps is blank")
        let first = try harness.post("/v1/models/fashion-cnn/saliency?class=\(grid.headers["x-saliency-class"]!.split(separator: ",")[0])",
                                     file: photo)
        XCTAssertEqual(first.status, 200)
        XCTAssertEqual(try harness.curl(try XCTUnwrap(grid.headers["x-saliency-url"])).body, grid.body, "the grid is kept at its URL")
    }

    func testClassListsAreCheckedAndBounded() throws {
        let photo = try photo()
        let cases: [(String, Int, String)] = [
            ("class=top11", 422, "max_saliency_classes"),
            ("class=0,1,2,3,4,5,6,7,8,9,0", 422, "max_saliency_classes"),
            ("class=top0", 400, "topK"),
            ("class=Bag,Bag", 400, "twice"),
            ("class=Bag,Spaceship", 400, "Spaceship"),
            ("class=1,99", 400, "out of range"),
            ("normalize=sometimes", 400, "normalize"),
            ("normalize=none", 400, "scale="),
            ("normalize=none&scale=-1", 400, "scale"),
            ("scale=2", 400, "normalize=none"),
        ]
        for (query, status, message) in cases {
            let response = try harness.post("/v1/models/fashion-cnn/saliency?\(query)", file: photo)
            XCTAssertEqual(response.status, status, "\(query): \(response.text)")
            XCTAssertTrue(response.text.contains(message), "\(query): \(response.text)")
        }
        XCTAssertEqual(try harness.post("/v1/models/fashion-cnn/saliency?class=top10&format=json", file: photo).status, 200)
    }

    /// percentile (the default) gives each map's values as drawn, 0 to 1; none gives raw values,
    /// and a PNG drawn on the given scale, so two maps on one scale compare pixel for pixel.
    func testNormalizeNoneGivesRawValuesAndAFixedScale() throws {
        let photo = try photo()
        let base = "/v1/models/fashion-cnn/saliency?method=gradient&overlay=false&colormap=gray"
        let drawn = try harness.post(base + "&format=json", file: photo)
        let raw = try harness.post(base + "&format=json&normalize=none", file: photo)
        XCTAssertEqual(drawn.status, 200, drawn.text)
        XCTAssertEqual(raw.status, 200, raw.text)
        let (unit, values) = (try values(drawn.object), try values(raw.object))
        XCTAssertEqual(unit.max(), 1)
        XCTAssertGreaterThanOrEqual(unit.min()!, 0)
        let map = try XCTUnwrap(drawn.object["map"] as? [String: Any])
        let (low, high) = (try XCTUnwrap(map["low"] as? Double), try XCTUnwrap(map["high"] as? Double))
        XCTAssertEqual(map["normalize"] as? String, "percentile")
        for (u, v) in zip(unit, values) { XCTAssertEqual(u, min(max((v - low) / (high - low), 0), 1), accuracy: 1e-5) }
        XCTAssertGreaterThan(values.max()!, high, "the raw values are not clipped")
        XCTAssertNil(raw.object["png_url"], "no scale, no picture")

        // On a fixed scale a map twice as large is drawn twice as bright: the class score's
        // gradient scaled by the scale itself shows it without a second model.
        let largest = values.max()!
        let full = try harness.post(base + "&normalize=none&scale=\(largest)", file: photo)
        let half = try harness.post(base + "&normalize=none&scale=\(2 * largest)", file: photo)
        XCTAssertEqual(full.status, 200, full.text)
        let (a, b) = (try ImageDecoder.decode(full.body), try ImageDecoder.decode(half.body))
        XCTAssertGreaterThan(a.pixels.max()!, 200, "the largest value is drawn near full (bilinear upsampling softens the peak)")
        let (meanA, meanB) = (Double(a.pixels.map(Int.init).reduce(0, +)), Double(b.pixels.map(Int.init).reduce(0, +)))
        XCTAssertEqual(meanB / meanA, 0.5, accuracy: 0.02)
    }
}
