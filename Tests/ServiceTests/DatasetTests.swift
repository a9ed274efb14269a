import Foundation
import XCTest

/// Dataset uploads over HTTP: what is accepted, and every kind of hostile or useless archive refused.
final class DatasetTests: XCTestCase {
    private var harness: JobTestHarness!

    override func setUpWithError() throws {
        harness = try JobTestHarness()
    }

    override func tearDown() {
        harness.stop()
    }

    private func datasetCount() throws -> Int? {
        (try harness.request("GET", "/v1/datasets").object["datasets"] as? [[String: Any]])?.count
    }


    func testUploadListAndDelete() throws {
        var files = try JobTestHarness.barDataset(perClass: 3, wrapper: "shapes")
        files["shapes/top/notes.txt"] = Data("not an image".utf8)
        files["shapes/bottom/broken.png"] = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3])
        let created = try harness.uploadDataset(JobTestHarness.zip(files))
        XCTAssertEqual(created.status, 201, String(decoding: created.body, as: UTF8.self))
        let body = created.object
        let id = try XCTUnwrap(body["id"] as? String)
        XCTAssertEqual(body["classes"] as? [String], ["bottom", "top"])
        XCTAssertEqual(body["counts"] as? [String: Int], ["bottom": 3, "top": 3])
        XCTAssertEqual(body["skipped"] as? Int, 2)
        let stored = harness.dataDirectory.appendingPathComponent("datasets/\(id)/top")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: stored.path).count, 3)

        let listing = try harness.request("GET", "/v1/datasets").object
        let datasets = try XCTUnwrap(listing["datasets"] as? [[String: Any]])
        XCTAssertEqual(datasets.map { $0["id"] as? String }, [id])
        XCTAssertNotNil(datasets[0]["created"] as? String)

        XCTAssertEqual(try harness.request("DELETE", "/v1/datasets/\(id)").status, 204)
        XCTAssertEqual(try harness.request("DELETE", "/v1/datasets/\(id)").status, 404)
        XCTAssertEqual(try datasetCount(), 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: harness.dataDirectory.appendingPathComponent("datasets/\(id)").path))
    }

    func testRefusesWhatIsNotAZip() throws {
        let text = try harness.uploadDataset(Data("hello".utf8))
        XCTAssertEqual(text.status, 415)
        XCTAssertEqual(text.errorCode, "unsupported_media_type")
        let gzip = try harness.uploadDataset(Data([0x1F, 0x8B, 8, 0, 0, 0, 0, 0]))
        XCTAssertEqual(gzip.status, 415)
        XCTAssertTrue(String(decoding: gzip.body, as: UTF8.self).contains("tar.gz"))
    }

    func testRefusesEmptyAndSingleClassArchives() throws {
        let empty = try harness.uploadDataset(JobTestHarness.zip(["readme.txt": Data("no images".utf8)]))
        XCTAssertEqual(empty.status, 422)
        XCTAssertEqual(empty.errorCode, "invalid_dataset")
        let files = try JobTestHarness.barDataset(perClass: 2).filter { $0.key.hasPrefix("top/") }
        let one = try harness.uploadDataset(JobTestHarness.zip(files))
        XCTAssertEqual(one.status, 422)
        XCTAssertTrue(String(decoding: one.body, as: UTF8.self).contains("one class"))
    }

    func testRefusesPathsThatLeaveTheDatasetFolder() throws {
        var files = try JobTestHarness.barDataset(perClass: 2)
        files["../escaped.png"] = files["top/0.png"]
        let slip = try harness.uploadDataset(JobTestHarness.zip(files))
        XCTAssertEqual(slip.status, 400)
        XCTAssertEqual(slip.errorCode, "unsafe_archive")
        let link = try harness.uploadDataset(JobTestHarness.zip(try JobTestHarness.barDataset(perClass: 2),
                                                                 symlinks: ["top/link.png": "/etc/passwd"]))
        XCTAssertEqual(link.status, 400)
        XCTAssertTrue(String(decoding: link.body, as: UTF8.self).contains("symbolic link"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: harness.dataDirectory.appendingPathComponent("escaped.png").path))
        XCTAssertEqual(try datasetCount(), 0)
    }

    func testRefusesBombsByDeclaredAndByCountedSize() throws {
        var files = try JobTestHarness.barDataset(perClass: 2)
        files["top/huge.png"] = Data(count: 40 << 20)
        let declared = try harness.uploadDataset(JobTestHarness.zip(files))
        XCTAssertEqual(declared.status, 413)
        XCTAssertEqual(declared.errorCode, "too_large")
        XCTAssertTrue(declared.text.contains("max_image_bytes"), declared.text)

        var lying = try JobTestHarness.barDataset(perClass: 2)
        lying["top/zeros.png"] = Data(count: 4 << 20)
        let counted = try harness.uploadDataset(JobTestHarness.zip(lying, lyingSizes: ["top/zeros.png": 100]))
        XCTAssertEqual(counted.status, 413)
        XCTAssertTrue(String(decoding: counted.body, as: UTF8.self).contains("more bytes than its declared"))
    }

    /// An archive of many files, or of files that together unpack to far more than the upload,
    /// is refused from its directory before anything is unpacked, naming the setting.
    func testRefusesArchivesBeyondTheirFileCountAndUnpackedSize() throws {
        try harness.restart { $0.budgets.maxDatasetFiles = 10 }
        let many = try harness.uploadDataset(JobTestHarness.zip(JobTestHarness.barDataset(perClass: 6)))
        XCTAssertEqual(many.status, 413, many.text)
        XCTAssertTrue(many.text.contains("at most 10 are allowed (max_dataset_files)"), many.text)

        try harness.restart { $0.maxUploadBytes = 64 << 10 }
        var files = try JobTestHarness.barDataset(perClass: 2)
        for index in 0..<5 { files["top/zeros\(index).png"] = Data(count: 60 << 10) }
        let archive = try JobTestHarness.zip(files)
        XCTAssertLessThan(archive.count, 64 << 10)
        let unpacked = try harness.uploadDataset(archive)
        XCTAssertEqual(unpacked.status, 413, unpacked.text)
        XCTAssertTrue(unpacked.text.contains("max_upload_bytes"), unpacked.text)
        XCTAssertEqual(try datasetCount(), 0)
    }
}
