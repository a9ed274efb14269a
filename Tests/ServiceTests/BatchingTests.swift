import Foundation
import Service
import XCTest

/// Dynamic batching seen from outside: concurrent classifications give the answers sequential
/// ones give, /metrics shows the batches, and a bad image in a burst fails on its own.
final class BatchingTests: XCTestCase {
    private var harness: ServiceHarness?

    override func tearDown() { harness?.stop() }

    private func start(maxBatchSize: Int, maxDelayMilliseconds: Double = 20, maxQueuedRequests: Int = 256,
                       handlerConcurrency: Int? = nil) throws -> ServiceHarness {
        let started = try ServiceHarness { configuration in
            if let handlerConcurrency { configuration.server.handlerConcurrency = handlerConcurrency }
            // One slot, so requests that arrive while a batch runs must queue for the next one.
            configuration.inferenceThreads = 1
            configuration.maxBatchSize = maxBatchSize
            configuration.maxBatchDelayMilliseconds = maxDelayMilliseconds
            configuration.maxQueuedRequests = maxQueuedRequests
        }
        harness = started
        return started
    }

    func testConcurrentRequestsGetTheSequentialAnswersInBatches() throws {
        let harness = try start(maxBatchSize: 8)
        let photos = try ServiceHarness.photos()
        let expected = try photos.map { try Ranking(harness.post("/v1/classify?top_k=5", file: $0)) }

        let burst = Array(repeating: photos, count: 3).flatMap { $0 }
        let answers = try concurrently(burst) { try Ranking(harness.post("/v1/classify?top_k=5", file: $0)) }
        for (index, answer) in answers.enumerated() {
            answer.assertMatches(expected[index % photos.count], burst[index].lastPathComponent)
        }

        let sizes = try batchSizes(harness)
        XCTAssertEqual(sizes.images, photos.count + burst.count)
        XCTAssertLessThan(sizes.batches, sizes.images, "no batch of more than one image ran")
        XCTAssertLessThan(sizes.singles, sizes.batches)
        XCTAssertEqual(sizes.aboveMaximum, 0)
    }

    func testMaxBatchSizeOneRunsEveryImageAlone() throws {
        let harness = try start(maxBatchSize: 1)
        let photo = try XCTUnwrap(try ServiceHarness.photos().first { $0.lastPathComponent == "kitten_224.png" })
        let expected = try Ranking(harness.post("/v1/classify", file: photo))
        let answers = try concurrently(Array(repeating: photo, count: 16)) { try Ranking(harness.post("/v1/classify", file: $0)) }
        for answer in answers { answer.assertMatches(expected, photo.lastPathComponent) }

        let sizes = try batchSizes(harness)
        XCTAssertEqual(sizes.images, 17)
        XCTAssertEqual(sizes.batches, 17)
        XCTAssertEqual(sizes.singles, 17)
    }

    func testARequestAloneDoesNotWaitForABatch() throws {
        let harness = try start(maxBatchSize: 8, maxDelayMilliseconds: 1000)
        for photo in try ServiceHarness.photos().prefix(4) {
            let response = try harness.post("/v1/classify", file: photo)
            XCTAssertEqual(response.status, 200, response.text)
            let inference = try XCTUnwrap((response.object["timing_ms"] as? [String: Any])?["inference"] as? Double)
            XCTAssertLessThan(inference, 500, "\(photo.lastPathComponent) waited for a batch that nobody else would join")
        }
    }

    func testOverloadAnswers503() throws {
        // Eight handlers (one slot times batches of eight, whatever the machine's cores) take the
        // first requests into a batch; with no room to queue, the others are refused before they
        // reach a handler. The largest photo keeps the handlers decoding while the others arrive.
        let harness = try start(maxBatchSize: 8, maxDelayMilliseconds: 200, maxQueuedRequests: 0, handlerConcurrency: 1)
        let photo = try XCTUnwrap(try ServiceHarness.photos().first { $0.lastPathComponent == "astronaut.png" })
        let responses = try harness.burst("/v1/classify", file: photo, count: 16)
        let statuses = responses.map(\.status)
        XCTAssertTrue(statuses.contains(200), "\(statuses)")
        XCTAssertTrue(statuses.contains(503), "\(statuses)")
        XCTAssertTrue(statuses.allSatisfy { $0 == 200 || $0 == 503 }, "\(statuses)")
        for refusal in responses where refusal.status == 503 {
            XCTAssertEqual(refusal.errorCode, "queue_full")
            XCTAssertEqual(refusal.header("retry-after"), "1")
            XCTAssertTrue(refusal.text.contains("max_queued_requests"), refusal.text)
        }
    }

    func testBadImageInABurstFailsAlone() throws {
        let harness = try start(maxBatchSize: 8)
        let photos = try ServiceHarness.photos()
        let expected = try photos.map { try Ranking(harness.post("/v1/classify", file: $0)) }
        let garbage = FileManager.default.temporaryDirectory.appendingPathComponent("garbage-\(UUID())")
        try Data("this is not an image".utf8).write(to: garbage)
        defer { try? FileManager.default.removeItem(at: garbage) }
        let truncated = FileManager.default.temporaryDirectory.appendingPathComponent("truncated-\(UUID())")
        try Data(contentsOf: photos[0]).prefix(2000).write(to: truncated)
        defer { try? FileManager.default.removeItem(at: truncated) }

        let burst = photos + [garbage] + photos + [truncated]
        let responses = try concurrently(burst) { try harness.post("/v1/classify", file: $0) }
        for (file, response) in zip(burst, responses) {
            switch file {
            case garbage:
                XCTAssertEqual(response.status, 415, response.text)
                XCTAssertEqual(response.errorCode, "unsupported_media_type")
            case truncated:
                XCTAssertEqual(response.status, 400, response.text)
                XCTAssertEqual(response.errorCode, "corrupt_image")
            default:
                let index = try XCTUnwrap(photos.firstIndex(of: file))
                try Ranking(response).assertMatches(expected[index], file.lastPathComponent)
            }
        }
        XCTAssertEqual(try batchSizes(harness).images, photos.count + 2 * photos.count)
    }

    func testBatchingSettingsComeFromFileAndEnvironment() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("salient-\(UUID()).json")
        try Data(#"{"max_batch_size": 3, "max_batch_delay_ms": 0.5}"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let fromFile = try ServiceConfiguration.load(file: file.path, environment: [:])
        XCTAssertEqual(fromFile.maxBatchSize, 3)
        XCTAssertEqual(fromFile.maxBatchDelayMilliseconds, 0.5)
        let fromEnvironment = try ServiceConfiguration.load(file: file.path, environment: ["SALIENT_MAX_BATCH_SIZE": "1",
                                                                                          "SALIENT_MAX_BATCH_DELAY_MS": "4"])
        XCTAssertEqual(fromEnvironment.maxBatchSize, 1)
        XCTAssertEqual(fromEnvironment.maxBatchDelayMilliseconds, 4)
        for bad in [["SALIENT_MAX_BATCH_SIZE": "0"], ["SALIENT_MAX_BATCH_SIZE": "many"], ["SALIENT_MAX_BATCH_DELAY_MS": "-1"],
                    ["SALIENT_MAX_BATCH_DELAY_MS": "soon"]] {
            XCTAssertThrowsError(try ServiceConfiguration.load(file: file.path, environment: bad), "\(bad)")
        }
    }

    // MARK: Helpers

    /// Runs `body` for every item on its own thread at once, answers in the items' order.
    private func concurrently<Item, Answer>(_ items: [Item], _ body: @escaping (Item) throws -> Answer) throws -> [Answer] {
        let answers = Answers<Answer>(count: items.count)
        let group = DispatchGroup()
        for (index, item) in items.enumerated() {
            group.enter()
            Thread.detachNewThread {
                answers.set(index, Result { try body(item) })
                group.leave()
            }
        }
        group.wait()
        return try answers.all.map { try XCTUnwrap($0).get() }
    }

    /// Answers filled in by several threads.
    private final class Answers<Answer>: @unchecked Sendable {
        private let lock = NSLock()
        private var answers: [Result<Answer, Error>?]

        init(count: Int) { answers = Array(repeating: nil, count: count) }

        func set(_ index: Int, _ answer: Result<Answer, Error>) { lock.withLock { answers[index] = answer } }

        var all: [Result<Answer, Error>?] { lock.withLock { answers } }
    }

    private struct BatchSizes {
        var images = 0, batches = 0, singles = 0, aboveMaximum = 0
    }

    /// `salient_inference_batch_size` for the default model, read from /metrics.
    private func batchSizes(_ harness: ServiceHarness) throws -> BatchSizes {
        let text = try harness.curl("/metrics").text
        func value(_ series: String) throws -> Int {
            let line = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix(series + " ") }, series)
            return try XCTUnwrap(Int(line.split(separator: " ").last ?? ""), String(line))
        }
        let model = #"model="fashion-cnn""#
        return BatchSizes(images: try value("salient_inference_batch_size_sum{\(model)}"),
                          batches: try value("salient_inference_batch_size_count{\(model)}"),
                          singles: try value(#"salient_inference_batch_size_bucket{\#(model),le="1"}"#),
                          aboveMaximum: try value(#"salient_inference_batch_size_bucket{\#(model),le="+Inf"}"#)
                              - value(#"salient_inference_batch_size_bucket{\#(model),le="8"}"#))
    }
}

/// The classes of one classification answer, best first, with their probabilities.
private struct Ranking {
    let labels: [String]
    let probabilities: [Double]

    init(_ response: ServiceHarness.Response) throws {
        XCTAssertEqual(response.status, 200, response.text)
        let predictions = try XCTUnwrap(response.object["predictions"] as? [[String: Any]], response.text)
        labels = predictions.compactMap { $0["label"] as? String }
        probabilities = predictions.compactMap { $0["probability"] as? Double }
    }

    /// Same classes in the same order; probabilities equal but for the rounding a batched
    /// matrix product may order differently.
    func assertMatches(_ expected: Ranking, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(labels, expected.labels, name, file: file, line: line)
        XCTAssertEqual(probabilities.count, expected.probabilities.count, name, file: file, line: line)
        for (p, q) in zip(probabilities, expected.probabilities) {
            XCTAssertEqual(p, q, accuracy: 1e-5, name, file: file, line: line)
        }
    }
}
