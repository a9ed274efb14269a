import Foundation
import TestSupport
import XCTest

/// Every budget refuses with a 4xx (or 503) that names its setting, and every hostile input of
/// issue 20 is built here.
final class ResourceBudgetTests: XCTestCase {
    /// Uploads `model` as an ONNX file with `labels` and `preprocessing`.
    private func upload(_ harness: ServiceHarness, _ model: Data, name: String, labels: Int = 4,
                        preprocessing: String = #"{"color": "grayscale", "resize": {"mode": "exact", "width": 2, "height": 2}}"#)
        throws -> ServiceHarness.Response {
        let file = harness.dataDirectory.appendingPathComponent("\(UUID().uuidString).onnx")
        try model.write(to: file)
        let preprocessingFile = harness.dataDirectory.appendingPathComponent("\(UUID().uuidString).json")
        try Data(preprocessing.utf8).write(to: preprocessingFile)
        return try harness.curl("/v1/models", ["-F", "file=@\(file.path)", "-F", "name=\(name)",
                                               "-F", "labels=\((0..<labels).map { "c\($0)" }.joined(separator: "\n"))",
                                               "-F", "preprocessing=<\(preprocessingFile.path)"])
    }

    func assertRefusal(_ response: ServiceHarness.Response, status: Int, code: String? = nil, naming setting: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(response.status, status, response.text, file: file, line: line)
        if let code { XCTAssertEqual(response.errorCode, code, response.text, file: file, line: line) }
        XCTAssertTrue(response.text.contains(setting), "\(response.text) does not name \(setting)", file: file, line: line)
    }

    /// The JPEG of issue 20: 6000x6000 declared over a 16x16 scan. Refused at once, on every route
    /// that decodes.
    func testBombJPEGIsRefusedOnEveryRoute() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let bomb = harness.dataDirectory.appendingPathComponent("bomb.jpg")
        try Data(HostileJPEG.truncatedScan(width: 6000, height: 6000, blocks: 4)).write(to: bomb)
        for path in ["/v1/classify", "/v1/models/fashion-cnn/classify", "/v1/models/fashion-cnn/saliency",
                     "/v1/models/fashion-cnn/saliency?method=smoothgrad&format=json"] {
            let response = try harness.post(path, file: bomb)
            XCTAssertEqual(response.status, 400, "\(path): \(response.text)")
            XCTAssertEqual(response.errorCode, "corrupt_image", path)
        }
        let form = try harness.curl("/v1/classify", ["-F", "a=@\(bomb.path)", "-F", "b=@\(bomb.path)"])
        XCTAssertEqual(form.status, 400, form.text)
    }

    /// A 40-megapixel photo: the map comes back scaled to `max_saliency_pixels`, aspect kept,
    /// with its class as for the classification.
    func testSaliencyOfALargePhotoIsRenderedOnABoundedCanvas() throws {
        let harness = try ServiceHarness { $0.budgets.maxSaliencyPixels = 1_000_000 }
        defer { harness.stop() }
        let photo = harness.dataDirectory.appendingPathComponent("large.jpg")
        try Data(HostileJPEG.complete(width: 8000, height: 5000)).write(to: photo)
        let png = harness.dataDirectory.appendingPathComponent("large.png")
        try Data(HostilePNG.rgb(width: 8000, height: 5000, compressed: true)).write(to: png)
        for file in [photo, png] {
            let response = try harness.post("/v1/models/fashion-cnn/saliency?method=smoothgrad", file: file)
            XCTAssertEqual(response.status, 200, response.text)
            let (width, height) = try XCTUnwrap(pngSize(response.body))
            XCTAssertLessThanOrEqual(width * height, 1_000_000)
            XCTAssertEqual(Double(width) / Double(height), 1.6, accuracy: 0.01)
            let classified = try harness.post("/v1/classify", file: file).object["predictions"] as? [[String: Any]]
            XCTAssertEqual(response.headers["x-saliency-class"], (classified?.first?["index"] as? Int).map { "\($0)" })
        }
        // Within the canvas, the map keeps the photo's own size.
        let small = try XCTUnwrap(ServiceHarness.photos().first { $0.lastPathComponent == "chelsea.png" })
        let map = try harness.post("/v1/models/fashion-cnn/saliency", file: small)
        XCTAssertEqual(pngSize(map.body).map { [$0.0, $0.1] }, [451, 300])
    }

    func testRequestsAreBoundedInImagesAndPixels() throws {
        let harness = try ServiceHarness {
            $0.budgets.maxRequestImages = 3
            $0.budgets.maxRequestPixels = 2_000_000
        }
        defer { harness.stop() }
        let photo = harness.dataDirectory.appendingPathComponent("photo.jpg")
        try Data(HostileJPEG.complete(width: 1000, height: 800)).write(to: photo)
        let three = try harness.curl("/v1/classify", ["-F", "a=@\(photo.path)", "-F", "b=@\(photo.path)"])
        XCTAssertEqual(three.status, 200, three.text)
        assertRefusal(try harness.curl("/v1/classify", (0..<3).flatMap { ["-F", "p\($0)=@\(photo.path)"] }),
                      status: 422, naming: "max_request_pixels")
        assertRefusal(try harness.curl("/v1/classify", (0..<4).flatMap { ["-F", "p\($0)=@\(photo.path)"] }),
                      status: 422, naming: "max_request_images")
        let huge = harness.dataDirectory.appendingPathComponent("huge.jpg")
        try Data(HostileJPEG.truncatedScan(width: 8000, height: 6000, blocks: 4)).write(to: huge)
        assertRefusal(try harness.post("/v1/classify", file: huge), status: 422, code: "image_too_large", naming: "max_image_pixels")
    }

    /// A body beyond its route's limit is a 413 naming `max_body_bytes` (`max_upload_bytes` on the
    /// upload routes), declared or chunked, and an image file beyond `max_image_bytes` a 422.
    func testBodiesAndImageFilesBeyondTheirLimitsNameTheirSetting() throws {
        let harness = try ServiceHarness {
            $0.server.maxBodyBytes = 64 << 10
            $0.maxUploadBytes = 128 << 10
            $0.maxImageBytes = 32 << 10
        }
        defer { harness.stop() }
        let large = harness.dataDirectory.appendingPathComponent("large.png")  // 120 KB, stored uncompressed
        try Data(HostilePNG.rgb(width: 200, height: 200)).write(to: large)
        assertRefusal(try harness.post("/v1/classify", file: large), status: 413, code: "payload_too_large",
                      naming: "65536 bytes this route takes (max_body_bytes)")
        assertRefusal(try harness.post("/v1/models/fashion-cnn/saliency", file: large, ["-H", "Transfer-Encoding: chunked"]),
                      status: 413, code: "payload_too_large", naming: "max_body_bytes")
        let archive = harness.dataDirectory.appendingPathComponent("large.zip")
        try Data(repeating: 0x50, count: 200 << 10).write(to: archive)
        assertRefusal(try harness.curl("/v1/datasets", ["-X", "POST", "-H", "Content-Type: application/zip", "--data-binary", "@\(archive.path)"]),
                      status: 413, code: "payload_too_large", naming: "131072 bytes this route takes (max_upload_bytes)")
        let file = harness.dataDirectory.appendingPathComponent("file.png")  // 42 KB: within the body limit
        try Data(HostilePNG.rgb(width: 120, height: 120)).write(to: file)
        assertRefusal(try harness.post("/v1/classify", file: file), status: 422, naming: "max_image_bytes")
        let small = harness.dataDirectory.appendingPathComponent("small.png")
        try Data(HostilePNG.rgb(width: 100, height: 100, compressed: true)).write(to: small)
        XCTAssertEqual(try harness.post("/v1/classify", file: small).status, 200)
    }

    /// The memory all images in flight may hold: an image that alone needs more is refused.
    func testImageMemoryBudgetRefusesWhatCannotFit() throws {
        let harness = try ServiceHarness { $0.budgets.maxImageMemoryBytes = 8 << 20 }
        defer { harness.stop() }
        let png = harness.dataDirectory.appendingPathComponent("large.png")
        try Data(HostilePNG.rgb(width: 3000, height: 2000, compressed: true)).write(to: png)
        assertRefusal(try harness.post("/v1/classify", file: png), status: 422, code: "image_too_large", naming: "max_image_memory_bytes")
        let photo = try XCTUnwrap(ServiceHarness.photos().first { $0.lastPathComponent == "chelsea.png" })
        XCTAssertEqual(try harness.post("/v1/classify", file: photo).status, 200)
    }

    /// Issue 20's 334-byte model whose input is 3 x 8192 x 8192.
    func testModelInputElementsAreCappedAtRegistration() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let huge = HostileONNX.hugeInput(channels: 3, height: 8192, width: 8192).data
        XCTAssertLessThan(huge.count, 400)
        let refused = try upload(harness, huge, name: "huge", labels: 3,
                                 preprocessing: #"{"color": "rgb", "resize": {"mode": "exact", "width": 8192, "height": 8192}}"#)
        assertRefusal(refused, status: 422, naming: "max_model_input_elements")
        let fine = try upload(harness, HostileONNX.hugeInput(channels: 3, height: 64, width: 64).data, name: "fine", labels: 3,
                              preprocessing: #"{"color": "rgb", "resize": {"mode": "exact", "width": 64, "height": 64}}"#)
        XCTAssertEqual(fine.status, 201, fine.text)
    }

    func testFoldingBombsAreRefusedNamingTheirSetting() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let generated = try upload(harness, HostileONNX.constantOfShape(elements: 1 << 28).data, name: "generated")
        assertRefusal(generated, status: 422, code: "limit_exceeded", naming: "max_import_constant_bytes")
        let convolved = try upload(harness, HostileONNX.convolutionOverConstants(channels: 64, side: 512, kernel: 11).data, name: "convolved")
        assertRefusal(convolved, status: 422, code: "limit_exceeded", naming: "max_import_work")
        let honest = try upload(harness, HostileONNX.constantOfShape(elements: 1000).data, name: "honest")
        XCTAssertEqual(honest.status, 201, honest.text)
    }

    /// A graph of more nodes than max_import_nodes is refused before any is read (a few
    /// megabytes of ONNX hold hundreds of thousands); one within it serves.
    func testGraphsOfTooManyNodesAreRefusedNamingTheirSetting() throws {
        let harness = try ServiceHarness { $0.budgets.maxImportNodes = 2000 }
        defer { harness.stop() }
        let long = try upload(harness, HostileONNX.longChain(count: 2000).data, name: "long")
        assertRefusal(long, status: 422, code: "limit_exceeded", naming: "max_import_nodes")
        let fine = try upload(harness, HostileONNX.longChain(count: 1999).data, name: "fine")
        XCTAssertEqual(fine.status, 201, fine.text)
    }

    /// One import at a time (issue 20, item 5): an upload that arrives while another model's
    /// constants are being folded is answered 503 with Retry-After at once, rather than waiting
    /// with its body held.
    func testAnUploadDuringAnotherImportGets503() throws {
        let harness = try ServiceHarness {
            $0.budgets.maxImportWork = 1 << 40  // the slow model folds for seconds, within budget
            $0.budgets.maxModels = 1000
        }
        defer { harness.stop() }
        // 9 G multiply-accumulates folded at load (a second or more), 71 MB of im2col at most.
        let slow = HostileONNX.convolutionOverConstants(channels: 512, side: 64, kernel: 3).data
        let quick = HostileONNX.constantOfShape(elements: 4).data
        var busy: ServiceHarness.Response?
        var attempt = 0
        // The slow upload may itself find a quick one importing and be refused; then it goes again.
        for round in 0..<3 where busy == nil {
            let slowDone = DispatchGroup()
            slowDone.enter()
            let slowStatus = LockedValue(0)
            DispatchQueue.global().async {
                slowStatus.set((try? self.upload(harness, slow, name: "slow\(round)").status) ?? 0)
                slowDone.leave()
            }
            while busy == nil, slowDone.wait(timeout: .now()) == .timedOut {
                attempt += 1
                let answer = try upload(harness, quick, name: "quick\(attempt)")
                if answer.status == 503 { busy = answer } else { XCTAssertEqual(answer.status, 201, answer.text) }
            }
            slowDone.wait()
            if busy != nil { XCTAssertNotEqual(slowStatus.get(), 503, "the slow import was refused too") }
        }
        let refusal = try XCTUnwrap(busy, "no upload was refused while another model was being imported")
        XCTAssertEqual(refusal.headers["retry-after"], "2")
        XCTAssertTrue(refusal.text.contains("one import runs at a time"), refusal.text)
    }

    func testModelCountIsAQuota() throws {
        let harness = try ServiceHarness { $0.budgets.maxModels = 2 }
        defer { harness.stop() }
        let model = HostileONNX.constantOfShape(elements: 4).data
        XCTAssertEqual(try upload(harness, model, name: "second").status, 201)
        assertRefusal(try upload(harness, model, name: "third"), status: 409, code: "quota_exceeded", naming: "max_models")
        XCTAssertEqual(try harness.curl("/v1/models/second", ["-X", "DELETE"]).status, 204)
        XCTAssertEqual(try upload(harness, model, name: "third").status, 201)
    }

    /// Issue 20's description with missing keys, and every other way a description goes wrong:
    /// a 400 that names the problem, never a 500.
    func testMalformedPreprocessingIsA400NamingTheProblem() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let model = HostileONNX.hugeInput(channels: 3, height: 8, width: 8).data
        let cases: [(String, String)] = [
            (#"{"color":"rgb","mean":[0.485,0.456,0.406],"std":[0.229,0.224,0.225]}"#, "resize"),
            (#"{"color":"cmyk","resize":{"mode":"exact","width":8,"height":8}}"#, "cmyk"),
            (#"{"color":"rgb","resize":{"mode":"exact","width":8}}"#, "resize.height"),
            (#"{"color":"rgb","resize":{"mode":"fit","width":8,"height":8}}"#, "fit"),
            (#"{"color":"rgb","resize":{"mode":"exact","width":"eight","height":8}}"#, "resize.width"),
            (#"{"color":"rgb","resize":{"mode":"exact","width":8,"height":8},"mean":[1,2]}"#, "mean"),
            (#"{"color":"rgb","resize":{"mode":"exact","width":8,"height":8},"std":[0]}"#, "std"),
            (#"{"color":"rgb","resize":{"mode":"exact","width":0,"height":8}}"#, "0x8"),
            (#"{"color":"grayscale","resize":{"mode":"exact","width":8,"height":8}}"#, "[1, 1, 8, 8]"),
            (#"{"color":"rgb","resize":{"mode":"exact","width":8,"height":8},"invert":"sometimes"}"#, "sometimes"),
            (#"{"preset":"imagenet-v2"}"#, "imagenet-v2"),
            (#"[1, 2, 3]"#, "preprocessing"),
            (#"{"color": "rgb", "resize": "#, "preprocessing"),
        ]
        for (text, problem) in cases {
            let response = try upload(harness, model, name: "m", labels: 3, preprocessing: text)
            XCTAssertEqual(response.status, 400, "\(text): \(response.text)")
            XCTAssertEqual(response.errorCode, "bad_parameter", text)
            XCTAssertTrue(response.text.contains(problem), "\(text): \(response.text) does not name \(problem)")
        }
        let defaults = try upload(harness, model, name: "m", labels: 3,
                                  preprocessing: #"{"resize":{"mode":"exact","width":8,"height":8},"mean":[0.5],"std":[0.5]}"#)
        XCTAssertEqual(defaults.status, 201, "missing keys that have a default are fine: \(defaults.text)")
    }

    /// The JSON bodies of the other routes answer 400 naming the field.
    func testMalformedJSONBodiesNameTheField() throws {
        let harness = try ServiceHarness()
        defer { harness.stop() }
        let job = try harness.curl("/v1/jobs", ["-X", "POST", "-H", "Content-Type: application/json",
                                                "--data", #"{"base_model": "fashion-cnn", "dataset": 7, "output_model": "x"}"#])
        XCTAssertEqual(job.status, 400, job.text)
        XCTAssertTrue(job.text.contains("dataset must be a string"), job.text)
        let infer = try harness.curl("/v2/models/fashion-cnn/infer", ["-X", "POST", "-H", "Content-Type: application/json",
                                                                       "--data", #"{"inputs": [{"name": "x", "datatype": "FP32", "data": [1]}]}"#])
        XCTAssertEqual(infer.status, 400, infer.text)
        XCTAssertTrue(infer.text.contains("inputs[0].shape is missing"), infer.text)
    }
}

/// Disk: datasets stored re-encoded within their quotas, the map cache bounded in bytes.
final class StorageBudgetTests: XCTestCase {
    /// Issue 20's padded PNG: a few kilobytes of zip that unpack to an image followed by megabytes
    /// of zeros after its end chunk. Only the image is stored.
    func testPaddedImagesAreStoredReEncoded() throws {
        let harness = try JobTestHarness()
        defer { harness.stop() }
        var files = try JobTestHarness.barDataset(perClass: 2)
        let padding = [UInt8](repeating: 0, count: 8 << 20)
        files["top/padded.png"] = Data(HostilePNG.rgb(width: 40, height: 30, trailing: padding))
        files["bottom/padded.jpg"] = Data(HostileJPEG.complete(width: 40, height: 32) + padding)
        let archive = try JobTestHarness.zip(files)
        XCTAssertLessThan(archive.count, 200_000)
        let created = try harness.uploadDataset(archive)
        XCTAssertEqual(created.status, 201, created.text)
        XCTAssertEqual(created.object["counts"] as? [String: Int], ["bottom": 3, "top": 3])
        let folder = harness.dataDirectory.appendingPathComponent("datasets/\(try XCTUnwrap(created.object["id"] as? String))")
        let sizes = try FileManager.default.subpathsOfDirectory(atPath: folder.path).map {
            (try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent($0).path)[.size] as? Int) ?? 0
        }
        XCTAssertLessThan(sizes.reduce(0, +), 100_000, "stored \(sizes)")
    }

    func testDatasetQuotas() throws {
        let harness = try JobTestHarness()
        defer { harness.stop() }
        try harness.restart { $0.budgets.maxDatasets = 1 }
        let archive = try JobTestHarness.zip(JobTestHarness.barDataset(perClass: 2))
        let first = try harness.uploadDataset(archive)
        XCTAssertEqual(first.status, 201, first.text)
        let second = try harness.uploadDataset(archive)
        XCTAssertEqual(second.status, 409, second.text)
        XCTAssertEqual(second.errorCode, "quota_exceeded")
        XCTAssertTrue(second.text.contains("max_datasets"), second.text)

        try harness.restart { $0.budgets.maxDatasetBytes = 1000 }
        XCTAssertEqual(try harness.request("DELETE", "/v1/datasets/\(try XCTUnwrap(first.object["id"] as? String))").status, 204)
        let big = try harness.uploadDataset(archive)
        XCTAssertEqual(big.status, 409, big.text)
        XCTAssertTrue(big.text.contains("max_dataset_bytes"), big.text)
        let left = try FileManager.default.contentsOfDirectory(atPath: harness.dataDirectory.appendingPathComponent("datasets").path)
        XCTAssertEqual(left, [], "nothing is left behind by a refused upload")
    }

    func testTrainingSetMemoryIsBoundedAtSubmission() throws {
        let harness = try JobTestHarness()
        defer { harness.stop() }
        let created = try harness.uploadDataset(try JobTestHarness.zip(JobTestHarness.barDataset(perClass: 4)))
        let dataset = try XCTUnwrap(created.object["id"] as? String)
        // Eight 28x28 images take 8 x 784 x 4 = 25088 bytes decoded.
        try harness.restart { $0.budgets.maxTrainingSetBytes = 25_000 }
        let refused = try harness.postJSON("/v1/jobs", ["base_model": "fashion-cnn", "dataset": dataset, "output_model": "tuned"])
        XCTAssertEqual(refused.status, 422, refused.text)
        XCTAssertTrue(refused.text.contains("max_training_set_bytes"), refused.text)
        try harness.restart { $0.budgets.maxTrainingSetBytes = 25_088 }
        let accepted = try harness.postJSON("/v1/jobs", ["base_model": "fashion-cnn", "dataset": dataset, "output_model": "tuned",
                                                         "epochs": 1])
        XCTAssertEqual(accepted.status, 202, accepted.text)
    }

    /// A batch_size of 4096 on a large model would take every activation and gradient of
    /// thousands of images at once: refused at submission, naming the setting.
    func testTrainingBatchMemoryIsBoundedAtSubmission() throws {
        let harness = try JobTestHarness()
        defer { harness.stop() }
        let created = try harness.uploadDataset(try JobTestHarness.zip(JobTestHarness.barDataset(perClass: 4)))
        let dataset = try XCTUnwrap(created.object["id"] as? String)
        try harness.restart { $0.budgets.maxTrainingBatchBytes = 1 << 20 }
        let refused = try harness.postJSON("/v1/jobs", ["base_model": "fashion-cnn", "dataset": dataset, "output_model": "tuned",
                                                        "batch_size": 4096])
        XCTAssertEqual(refused.status, 422, refused.text)
        XCTAssertTrue(refused.text.contains("max_training_batch_bytes"), refused.text)
        let small = try harness.postJSON("/v1/jobs", ["base_model": "fashion-cnn", "dataset": dataset, "output_model": "tuned",
                                                      "batch_size": 1, "epochs": 1])
        XCTAssertEqual(small.status, 202, small.text)
    }

    func testSaliencyCacheIsBoundedInBytesAndPrivate() throws {
        let harness = try ServiceHarness { $0.budgets.saliencyCacheBytes = 1_000_000 }
        defer { harness.stop() }
        let photo = try XCTUnwrap(ServiceHarness.photos().first { $0.lastPathComponent == "astronaut.png" })
        var urls: [String] = []
        for _ in 0..<6 {
            let response = try harness.post("/v1/models/fashion-cnn/saliency", file: photo)
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.headers["cache-control"], "no-store")
            urls.append(try XCTUnwrap(response.headers["x-saliency-url"]))
        }
        let kept = try harness.curl(urls.last!)
        XCTAssertEqual(kept.status, 200)
        XCTAssertTrue(kept.headers["cache-control"]?.hasPrefix("private") == true, "\(kept.headers)")
        XCTAssertFalse(kept.headers["cache-control"]?.contains("public") == true)
        XCTAssertEqual(try harness.curl(urls.first!).status, 404, "the oldest maps are dropped")
        let folder = harness.dataDirectory.appendingPathComponent("saliency")
        let total = try FileManager.default.contentsOfDirectory(atPath: folder.path).reduce(0) {
            $0 + ((try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent($1).path)[.size] as? Int) ?? 0)
        }
        XCTAssertLessThanOrEqual(total, 1_000_000)
    }
}

/// A value read and written from several threads.
final class LockedValue<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func get() -> Value { lock.withLock { value } }
    func set(_ newValue: Value) { lock.withLock { value = newValue } }
}
