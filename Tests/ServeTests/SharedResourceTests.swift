import Foundation
import TestSupport
import XCTest

/// What stays shared however many models and requests there are: threads, and memory malloc
/// keeps free.
final class SharedResourceTests: XCTestCase {
    /// Issue 20: twenty uploads took the process from 14 to 54 threads, two per model. Models
    /// now share the service's compute threads.
    func testModelsShareComputeThreads() throws {
        let server = try ServeProcess(environment: ["SALIENT_MAX_MODELS": "40"])
        defer { server.stop() }
        let file = server.dataDirectory.appendingPathComponent("small.onnx")
        try HostileONNX.hugeInput(channels: 3, height: 16, width: 16).data.write(to: file)
        let photo = server.dataDirectory.appendingPathComponent("photo.jpg")
        try Data(HostileJPEG.complete(width: 64, height: 48)).write(to: photo)
        // One model loaded and used first, so the threads that exist for any use exist.
        XCTAssertEqual(try server.request("POST", "/v1/classify", body: Data(contentsOf: photo)).status, 200)
        let before = try server.threads()
        for index in 0..<20 {
            let response = try server.request("POST", "/v1/models", form: [
                ("file", "@\(file.path)"), ("name", "m\(index)"), ("labels", "r\ng\nb"),
                ("preprocessing", #"{"color":"rgb","resize":{"mode":"exact","width":16,"height":16}}"#)])
            XCTAssertEqual(response.status, 201, response.text)
            XCTAssertEqual(try server.request("POST", "/v1/models/m\(index)/classify", body: Data(contentsOf: photo)).status, 200)
        }
        let after = try server.threads()
        XCTAssertLessThanOrEqual(after - before, 2, "threads \(before) → \(after) over twenty models")
    }

    /// After a burst, the memory malloc keeps free is given back: resident memory returns close
    /// to where it was before. /metrics shows the heap in use and free. The burst lasts more than
    /// two of the trimmer's 5 s checks, so one falls inside it (a trim at the peak once kept the
    /// trimmer from returning what the burst freed afterwards), and the wait for the return is long
    /// enough for a machine busy with other builds.
    func testFreeHeapIsReturnedAfterABurst() throws {
        let server = try ServeProcess()
        defer { server.stop() }
        let metrics = try server.request("GET", "/metrics").text
        for name in ["process_resident_memory_bytes", "salient_heap_in_use_bytes", "salient_heap_free_bytes",
                     "salient_image_memory_reserved_bytes", "salient_saliency_cache_bytes"] {
            XCTAssertTrue(metrics.contains("\n\(name) "), "/metrics has no \(name)")
        }
        let idle = try server.memory().residentMB
        let png = Data(HostilePNG.rgb(width: 3000, height: 2000, compressed: true))
        let started = Date()
        repeat {
            let answers = server.concurrently(4) { _ in try server.request("POST", "/v1/models/fashion-cnn/saliency", body: png) }
            for answer in answers { XCTAssertEqual(try answer.get().status, 200) }
        } while Date().timeIntervalSince(started) < 11
        let burst = try server.memory().peakMB
        XCTAssertGreaterThan(burst, idle + 64, "the burst should have grown the process")
        let ended = Date(), deadline = Date(timeIntervalSinceNow: 120)
        var resident = try server.memory().residentMB
        while Date() < deadline, resident > idle + 48 {
            Thread.sleep(forTimeInterval: 0.5)
            resident = try server.memory().residentMB
        }
        XCTAssertLessThanOrEqual(resident, idle + 48, "resident \(resident) MB after a burst to \(burst) MB from \(idle) MB idle")
        print("issue 20 figure | a burst of 6 MP saliency requests | idle \(Int(idle)) MB, peak \(Int(burst)) MB, "
            + "\(Int(resident)) MB \(String(format: "%.1f", Date().timeIntervalSince(ended))) s after")
    }
}
