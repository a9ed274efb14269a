import Foundation
import XCTest

/// Fine-tuning jobs over HTTP on a real service: submission checks, a job from upload to a
/// served model with its events streamed live, cancellation, resumption after a restart, and
/// classification answering while a job trains.
final class JobTests: XCTestCase {
    private var harness: JobTestHarness!

    override func setUpWithError() throws {
        harness = try JobTestHarness()
    }

    override func tearDown() {
        harness.stop()
    }

    private func uploadBars(perClass: Int) throws -> String {
        let response = try harness.uploadDataset(JobTestHarness.zip(JobTestHarness.barDataset(perClass: perClass)))
        XCTAssertEqual(response.status, 201)
        return try XCTUnwrap(response.object["id"] as? String)
    }

    private func submit(_ fields: [String: Any]) throws -> String {
        let response = try harness.postJSON("/v1/jobs", fields)
        XCTAssertEqual(response.status, 202, String(decoding: response.body, as: UTF8.self))
        return try XCTUnwrap(response.object["id"] as? String)
    }

    /// `curl -N` on a job's event stream, read until the server ends it.
    private func streamEvents(_ id: String) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-sN", "--max-time", "120", "\(harness.baseURL)/v1/jobs/\(id)/events"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        return (process, output)
    }

    func testTheJobQueueIsBounded() throws {
        let dataset = try uploadBars(perClass: 2)
        // No worker takes jobs, so every accepted one stays queued.
        try harness.restart {
            $0.jobWorkers = 0
            $0.maxQueuedJobs = 2
        }
        for index in 0..<2 {
            _ = try submit(["base_model": "fashion-cnn", "dataset": dataset, "output_model": "queued-\(index)"])
        }
        let refused = try harness.postJSON("/v1/jobs", ["base_model": "fashion-cnn", "dataset": dataset, "output_model": "one-more"])
        XCTAssertEqual(refused.status, 503, refused.text)
        XCTAssertEqual(refused.headers["retry-after"], "1")
        XCTAssertTrue(refused.text.contains("max_queued_jobs"), refused.text)
        XCTAssertEqual((try harness.request("GET", "/v1/jobs").object["jobs"] as? [Any])?.count, 2)
    }

    func testRefusesBadSubmissions() throws {
        let dataset = try uploadBars(perClass: 2)
        func status(_ fields: [String: Any]) throws -> Int { try harness.postJSON("/v1/jobs", fields).status }
        let valid: [String: Any] = ["base_model": "fashion-cnn", "dataset": dataset, "output_model": "bars"]
        XCTAssertEqual(try status(valid.merging(["base_model": "nope"]) { $1 }), 404)
        XCTAssertEqual(try status(valid.merging(["dataset": "ds-000000000000"]) { $1 }), 404)
        XCTAssertEqual(try status(valid.merging(["output_model": "Bad Name"]) { $1 }), 400)
        XCTAssertEqual(try status(valid.merging(["epochs": 0]) { $1 }), 400)
        XCTAssertEqual(try status(valid.merging(["optimizer": "lbfgs"]) { $1 }), 400)
        XCTAssertEqual(try status(valid.merging(["freeze": "some"]) { $1 }), 400)
        XCTAssertEqual(try status(valid.merging(["head": "middle"]) { $1 }), 400)
        XCTAssertEqual(try status(valid.merging(["head_pooling": "max"]) { $1 }), 400)
        XCTAssertEqual(try status(valid.merging(["head_dropout": 1]) { $1 }), 400)
        XCTAssertEqual(try status(valid.merging(["head_hidden_units": -1]) { $1 }), 400)
        XCTAssertEqual(try status(valid.merging(["frozen_batchnorm": "frozen"]) { $1 }), 400)
        XCTAssertEqual(try status(valid.merging(["horizontal_flip": "no"]) { $1 }), 400)
        XCTAssertEqual(try status(valid.merging(["learning_rate": "fast"]) { $1 }), 400)
        XCTAssertEqual(try status(valid.merging(["learning_rate": 0]) { $1 }), 400)
        XCTAssertEqual(try status(["dataset": dataset]), 400)
        XCTAssertEqual(try harness.request("POST", "/v1/jobs", body: Data("{".utf8), contentType: "application/json").status, 400)
        XCTAssertEqual(try harness.request("POST", "/v1/jobs", body: Data("{}".utf8)).status, 415, "JSON routes take only application/json")
        XCTAssertEqual(try harness.request("GET", "/v1/jobs/job-none").status, 404)
        XCTAssertEqual(try harness.request("POST", "/v1/jobs/job-none/cancel").status, 404)
        XCTAssertEqual((try harness.request("GET", "/v1/jobs").object["jobs"] as? [Any])?.count, 0)
    }

    /// A long job blocks the single worker; the job queued behind it is watched from its first
    /// event, the long one is cancelled, and the queued one trains to a served model.
    func testCancelThenQueuedJobTrainsToAServedModelWithLiveEvents() throws {
        let dataset = try uploadBars(perClass: 30)
        let long = try submit(["base_model": "fashion-cnn", "dataset": dataset, "output_model": "never", "epochs": 500])
        let bars = try submit(["base_model": "fashion-cnn", "dataset": dataset, "output_model": "bars", "epochs": 3,
                               "batch_size": 8, "learning_rate": 0.003, "early_stopping_patience": 0, "seed": 7])
        let queued = try harness.request("GET", "/v1/jobs/\(bars)").object
        XCTAssertEqual(queued["state"] as? String, "queued")
        let request = try XCTUnwrap(queued["request"] as? [String: Any])
        XCTAssertEqual(request["optimizer"] as? String, "adamw")
        XCTAssertEqual(request["freeze"] as? String, "none")
        XCTAssertEqual(request["validation_split"] as? Double, 0.2)
        XCTAssertEqual(request["horizontal_flip"] as? Bool, true)
        XCTAssertTrue(queued.keys.contains("error") && queued["error"] is NSNull)

        let running = try harness.waitForJob(long, states: ["running"])
        XCTAssertNotNil(running["started"] as? String)
        let (curl, output) = try streamEvents(bars)
        let cancelled = try harness.request("POST", "/v1/jobs/\(long)/cancel")
        XCTAssertEqual(cancelled.status, 200)
        let final = try harness.waitForJob(long, states: ["cancelled", "failed", "succeeded"], timeout: 30)
        XCTAssertEqual(final["state"] as? String, "cancelled")
        XCTAssertEqual(try harness.request("POST", "/v1/jobs/\(long)/cancel").status, 409)

        let job = try harness.waitForJob(bars, states: ["succeeded", "failed", "cancelled"])
        XCTAssertEqual(job["state"] as? String, "succeeded", "\(job["error"] ?? "")")
        let metrics = try XCTUnwrap(job["metrics"] as? [[String: Any]])
        XCTAssertEqual(metrics.map { $0["stage"] as? Int }, [1, 1, 1, 2, 2, 2])
        XCTAssertEqual(metrics.map { $0["epoch"] as? Int }, [1, 2, 3, 1, 2, 3])
        XCTAssertTrue(metrics.allSatisfy { $0["train_loss"] is Double && $0["validation_accuracy"] is Double })
        XCTAssertEqual(job["labels"] as? [String], ["bottom", "top"])
        let matrix = try XCTUnwrap(job["confusion_matrix"] as? [[Int]])
        XCTAssertEqual(matrix.flatMap { $0 }.reduce(0, +), 12, "a fifth of 60 images validates")
        XCTAssertGreaterThanOrEqual(matrix[0][0] + matrix[1][1], 11, "bars at the top or the bottom are easy: \(matrix)")
        let transfer = try XCTUnwrap(job["transfer"] as? [String: Any])
        XCTAssertEqual(transfer["head"] as? String, "classifier")
        XCTAssertEqual(transfer["cut_at"] as? String, "pool2", "the job says where fashion-cnn was cut")
        XCTAssertEqual(transfer["replaced"] as? [String], ["flatten", "dropout", "fc1", "fc2"])
        let stages = try XCTUnwrap(transfer["stages"] as? [[String: Any]])
        XCTAssertEqual(stages.map { $0["frozen"] as? [String] }, [["conv1", "bn1", "conv2", "bn2"], []])
        XCTAssertEqual((stages[0]["learning_rates"] as? [String: Double])?.keys.sorted(), ["head"])
        XCTAssertEqual((stages[1]["learning_rates"] as? [String: Double])?.keys.sorted(), ["group1", "group2", "head"])
        XCTAssertNotNil((transfer["best"] as? [String: Any])?["epoch"] as? Int)
        let perClass = try XCTUnwrap(job["per_class"] as? [[String: Any]])
        XCTAssertEqual(perClass.map { $0["label"] as? String }, ["bottom", "top"])
        XCTAssertNotNil(job["finished"] as? String)

        curl.waitUntilExit()
        let events = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(events.hasPrefix("event: state\ndata: {"), events)
        XCTAssertTrue(events.contains("event: progress\ndata: {\"epoch\":1,\"epochs\":3,\"stage\":1,\"step\":1,\"steps\":6}"), events)
        XCTAssertTrue(events.contains("event: epoch\ndata: {"))
        XCTAssertTrue(events.contains("event: plan\ndata: {"), events)
        XCTAssertTrue(events.contains("\"state\":\"running\""))
        let lastEvent = try XCTUnwrap(events.components(separatedBy: "\n\n").filter { !$0.isEmpty }.last)
        XCTAssertTrue(lastEvent.hasPrefix("event: state") && lastEvent.contains("\"state\":\"succeeded\""), lastEvent)

        let models = try harness.request("GET", "/v1/models").object["models"] as? [[String: Any]]
        XCTAssertEqual(models?.first { $0["name"] as? String == "bars" }?["classes"] as? Int, 2)
        XCTAssertNil(models?.first { $0["name"] as? String == "never" })
        let card = try XCTUnwrap(try harness.request("GET", "/v1/models/bars").object["card"] as? [String: Any])
        XCTAssertEqual((card["provenance"] as? [String: Any])?["base_model"] as? String, "fashion-cnn")
        XCTAssertEqual((card["provenance"] as? [String: Any])?["dataset"] as? String, dataset)
        var correct = 0
        for seed in 500..<520 {
            let top = seed % 2 == 0
            let answer = try harness.request("POST", "/v1/models/bars/classify",
                                             body: Data(JobTestHarness.barImage(top: top, seed: seed)), contentType: "image/png").object
            let best = (answer["predictions"] as? [[String: Any]])?.first?["label"] as? String
            if best == (top ? "top" : "bottom") { correct += 1 }
        }
        XCTAssertGreaterThanOrEqual(correct, 18, "the served model classifies new images")
        XCTAssertFalse(FileManager.default.fileExists(atPath: harness.dataDirectory.appendingPathComponent("jobs/\(bars)").path),
                       "a finished job's checkpoint is removed")
    }

    /// The service object stops mid-job; the job is requeued at the next start with its
    /// checkpoint, and finishes without repeating or losing an epoch.
    func testJobInterruptedByAStopResumesFromItsCheckpoint() throws {
        let dataset = try uploadBars(perClass: 20)
        let id = try submit(["base_model": "fashion-cnn", "dataset": dataset, "output_model": "resumed", "epochs": 40,
                             "batch_size": 4, "freeze": "body", "early_stopping_patience": 0])
        let before = try harness.waitForFirstEpoch(id)
        try harness.restart { $0.jobWorkers = 0 }
        let requeued = try harness.request("GET", "/v1/jobs/\(id)").object
        let checkpoint = harness.dataDirectory.appendingPathComponent("jobs/\(id)/checkpoint")
        XCTAssertEqual(requeued["state"] as? String, "queued", "a job running at the stop is queued again")
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: checkpoint.appendingPathComponent("state.json"))) as? [String: Any]
        let epochsDone = try XCTUnwrap(state?["epochsDone"] as? Int)
        XCTAssertTrue((1..<40).contains(epochsDone))
        try harness.restart()
        let job = try harness.waitForJob(id, states: ["succeeded", "failed", "cancelled"])
        XCTAssertEqual(job["state"] as? String, "succeeded", "\(job["error"] ?? "")")
        let metrics = try XCTUnwrap(job["metrics"] as? [[String: Any]])
        XCTAssertEqual(metrics.map { $0["epoch"] as? Int }, Array(1...40))
        XCTAssertEqual(metrics.first?["train_loss"] as? Double, before.first?["train_loss"] as? Double)
        XCTAssertEqual(try harness.request("GET", "/v1/models/resumed").status, 200)
    }

    /// A model imported from ONNX has no native architecture: its head is replaced on the
    /// graph, and the fine-tuned graph is registered as ONNX.
    func testFineTunesAModelImportedFromONNX() throws {
        let exported = try harness.request("GET", "/v1/models/fashion-cnn/export?format=onnx")
        XCTAssertEqual(exported.status, 200)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("fashion-\(UUID().uuidString).onnx")
        try exported.body.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let labels = (0..<10).map { "class \($0)" }.joined(separator: "\n")
        let uploaded = try harness.harness.curl("/v1/models", ["-F", "file=@\(file.path)", "-F", "name=fashion-onnx",
                                                               "-F", "labels=\(labels)", "-F", "preprocessing=fashion-mnist"])
        XCTAssertEqual(uploaded.status, 201, uploaded.text)
        let dataset = try uploadBars(perClass: 20)
        let id = try submit(["base_model": "fashion-onnx", "dataset": dataset, "output_model": "bars-onnx", "epochs": 2,
                             "batch_size": 8, "learning_rate": 0.003])
        let job = try harness.waitForJob(id, states: ["succeeded", "failed", "cancelled"])
        XCTAssertEqual(job["state"] as? String, "succeeded", "\(job["error"] ?? "")")
        let models = try harness.request("GET", "/v1/models").object["models"] as? [[String: Any]]
        let model = try XCTUnwrap(models?.first { $0["name"] as? String == "bars-onnx" })
        XCTAssertEqual(model["format"] as? String, "onnx")
        XCTAssertEqual(model["classes"] as? Int, 2)
        let answer = try harness.request("POST", "/v1/models/bars-onnx/classify",
                                         body: Data(JobTestHarness.barImage(top: true, seed: 900)), contentType: "image/png").object
        XCTAssertEqual((answer["predictions"] as? [[String: Any]])?.count, 2)
    }

    /// Classification latency with no job, and while a job trains on the job worker's thread.
    func testClassificationKeepsServingWhileAJobTrains() throws {
        let image = Data(try JobTestHarness.barImage(top: true, seed: 1))
        func medianLatency(_ count: Int) throws -> Double {
            let results = try harness.timedPosts("/v1/classify", body: image, contentType: "image/png", count: count)
            XCTAssertEqual(results.count, count)
            XCTAssertTrue(results.allSatisfy { $0.status == 200 })
            return results.map { $0.seconds * 1000 }.sorted()[count / 2]
        }
        _ = try medianLatency(5)
        let idle = try medianLatency(40)
        let dataset = try uploadBars(perClass: 30)
        // Early stopping (0 turns it off) would end this easy job before the cancel.
        let id = try submit(["base_model": "fashion-cnn", "dataset": dataset, "output_model": "busy", "epochs": 500,
                             "early_stopping_patience": 0])
        // Measured once an epoch is done, so the job is training, not still setting up.
        _ = try harness.waitForFirstEpoch(id)
        let busy = try medianLatency(40)
        XCTAssertEqual(try harness.request("GET", "/v1/jobs/\(id)").object["state"] as? String, "running")
        XCTAssertEqual(try harness.request("POST", "/v1/jobs/\(id)/cancel").status, 200)
        print(String(format: "classification median latency: idle %.2f ms, during a job %.2f ms", idle, busy))
        XCTAssertLessThan(busy, 500, "classification must keep answering while a job trains")
    }
}
