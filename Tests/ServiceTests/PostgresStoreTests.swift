import CNN
import Foundation
import Logging
import Service
import XCTest

/// The PostgreSQL stores replicas share (registry index, datasets' metadata, job queue), each
/// test on a fresh database of a throw-away server, with two or more stores standing for as many
/// replicas (each its own connection pool) over one data folder. Skipped, with the reason, only
/// when PostgreSQL's server programs are not installed.
final class PostgresStoreTests: XCTestCase {
    private static var server: ThrowawayPostgres?
    private static var serverError: Error?
    private var folder: URL!
    private var logger: Logger = {
        var logger = Logger(label: "postgres.test")
        logger.logLevel = .critical
        return logger
    }()

    override class func tearDown() {
        server?.remove()
        server = nil
    }

    /// One server for the class, started by the first test that needs it.
    private func database() throws -> PostgresDatabase {
        if PostgresStoreTests.server == nil && PostgresStoreTests.serverError == nil {
            do { PostgresStoreTests.server = try ThrowawayPostgres() } catch { PostgresStoreTests.serverError = error }
        }
        if let error = PostgresStoreTests.serverError { throw error }
        let database = PostgresDatabase(url: try XCTUnwrap(PostgresStoreTests.server).freshDatabase())
        try database.migrate(PostgresSchema.migrations, logger: logger)
        return database
    }

    /// A second replica's pool on the same database.
    private func replica(of database: PostgresDatabase) -> PostgresDatabase { PostgresDatabase(url: database.url) }

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("salient-pgstore-\(UUID().uuidString)")
    }

    override func tearDown() {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    private func objects() throws -> ContentStore { try ContentStore(root: folder.appendingPathComponent("objects")) }

    private func card(_ name: String) -> ModelCard { ModelCard(name: name, architecture: nil, onnxFile: "model.onnx", labels: ["a", "b"]) }

    /// Runs `body` on `count` threads at once and waits for all; rethrows the first error.
    private func together<T>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> T) throws -> [T] {
        let results = UnsafeMutableResults<T>(count: count)
        let start = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        for index in 0..<count {
            group.enter()
            Thread {
                start.wait()
                results.set(index, Result { try body(index) })
                group.leave()
            }.start()
        }
        for _ in 0..<count { start.signal() }
        group.wait()
        return try results.values.map { try $0!.get() }
    }

    // MARK: ModelIndex

    func testVersionsAddedAtOnceOnTwoReplicasGetConsecutiveNumbers() throws {
        let first = try database()
        let store = try objects()
        let indexes = [PostgresModelIndex(database: first, objects: store), PostgresModelIndex(database: replica(of: first), objects: store)]
        // Every addition proposes the number its replica last saw: 1.
        let added = try together(8) { index in
            try indexes[index % 2].add(proposed: 1, of: "shared", card: self.card("shared"),
                                       files: ["model.onnx": Data("weights \(index)".utf8)], makeDefault: true)
        }
        XCTAssertEqual(added.map(\.version.version).sorted(), Array(1...8), "each addition its own number, none skipped")
        let record = try XCTUnwrap(indexes[1].record(named: "shared"))
        XCTAssertEqual(record.versions.map(\.version), Array(1...8))
        XCTAssertEqual(record.state.nextVersion, 9)
        XCTAssertEqual(record.state.defaultVersion, 8, "the last addition committed is the default")
        for (version, stored) in zip(added, added.map { record.version($0.version.version) }) {
            XCTAssertEqual(stored?.directory, version.version.directory, "each number names the files added under it")
            XCTAssertTrue(FileManager.default.fileExists(atPath: version.version.directory.appendingPathComponent("model.onnx").path))
        }
        // A proposal past the index's next number is kept (the registry saw a higher one).
        let ahead = try indexes[0].add(proposed: 12, of: "shared", card: card("shared"), files: ["model.onnx": Data("ahead".utf8)],
                                       makeDefault: false)
        XCTAssertEqual(ahead.version.version, 12)
        XCTAssertEqual(ahead.state.defaultVersion, 8, "makeDefault false keeps the default")
        XCTAssertEqual(ahead.state.nextVersion, 13)
    }

    func testStoringTheSameVersionTwiceIsNoChangeAndOtherFilesConflict() throws {
        let database = try database()
        let store = try objects()
        let indexes = [PostgresModelIndex(database: database, objects: store), PostgresModelIndex(database: replica(of: database), objects: store)]
        let files = ["model.onnx": Data("bundled".utf8)]
        // Replicas starting together all install a bundled model as its version 1.
        let folders = try together(4) { index in try indexes[index % 2].store(version: 1, of: "bundled", card: self.card("bundled"), files: files) }
        XCTAssertEqual(Set(folders).count, 1)
        XCTAssertEqual(try indexes[0].record(named: "bundled")?.versions.map(\.version), [1])
        XCTAssertThrowsError(try indexes[1].store(version: 1, of: "bundled", card: card("bundled"), files: ["model.onnx": Data("other".utf8)]))
    }

    func testStoredFilesAreCollectedWithTheirLastReference() throws {
        let database = try database()
        let store = try objects()
        let index = PostgresModelIndex(database: database, objects: store)
        let same = ["model.onnx": Data("same weights".utf8)]
        let one = try index.add(proposed: 1, of: "one", card: card("one"), files: same, makeDefault: true).version
        let two = try index.add(proposed: 1, of: "two", card: card("two"), files: same, makeDefault: true).version
        XCTAssertEqual(one.directory, two.directory, "the same content is one folder")
        XCTAssertEqual(one.directory.lastPathComponent.count, 64, "named by SHA-256")
        try index.remove(name: "one")
        XCTAssertNil(try index.record(named: "one"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: two.directory.path), "still referred to by 'two'")
        let other = try index.add(proposed: 2, of: "two", card: card("two"), files: ["model.onnx": Data("new".utf8)], makeDefault: true)
        try index.remove(version: 1, of: "two")
        XCTAssertFalse(FileManager.default.fileExists(atPath: two.directory.path), "gone with its last version")
        XCTAssertEqual(try index.record(named: "two")?.versions.map(\.version), [2])
        XCTAssertTrue(FileManager.default.fileExists(atPath: other.version.directory.path))
        XCTAssertEqual(try index.names(), ["two"])
    }

    // MARK: DatasetIndex

    private func stage(_ index: PostgresDatasetIndex, images: [String: String]) throws -> URL {
        let staging = index.stagingRoot.appendingPathComponent(".staging-\(UUID().uuidString)")
        for (path, content) in images {
            let file = staging.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(content.utf8).write(to: file)
        }
        return staging
    }

    func testDatasetsAreListedEverywhereAndShareTheirImagesByContent() throws {
        let database = try database()
        let store = try objects()
        let indexes = [PostgresDatasetIndex(database: database, objects: store), PostgresDatasetIndex(database: replica(of: database), objects: store)]
        let images = ["cat/1.png": "one", "dog/2.png": "two two"]
        func dataset(_ id: String) -> Dataset {
            Dataset(id: id, classes: ["cat", "dog"], counts: ["cat": 1, "dog": 1], skipped: 0, created: Date(timeIntervalSince1970: 1_700_000_000))
        }
        try indexes[0].add(dataset("first"), from: try stage(indexes[0], images: images))
        try indexes[1].add(dataset("second"), from: try stage(indexes[1], images: images))
        XCTAssertEqual(try indexes[1].all().map(\.id), ["first", "second"])
        XCTAssertEqual(try indexes[0].dataset("second")?.counts, ["cat": 1, "dog": 1])
        XCTAssertNil(try indexes[0].dataset("third"))
        let folder = try indexes[0].directory(of: dataset("first"))
        XCTAssertEqual(folder, try indexes[1].directory(of: dataset("second")), "the same images are one folder")
        XCTAssertEqual(try String(contentsOf: folder.appendingPathComponent("dog/2.png"), encoding: .utf8), "two two")
        XCTAssertEqual(try indexes[1].storedBytes(), 2 * 10, "each dataset counts its bytes")
        try indexes[1].remove("first")
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder.path), "still the second dataset's")
        try indexes[0].remove("second")
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.path))
        XCTAssertEqual(try indexes[0].all().count, 0)
        XCTAssertEqual(try indexes[0].storedBytes(), 0)
    }

    // MARK: JobQueue

    private func job(_ index: Int) -> Job {
        Job(id: "job-\(index)", request: JobRequest(baseModel: "fashion-cnn", dataset: "d", outputModel: "out-\(index)"),
            created: Date(timeIntervalSince1970: 1_700_000_000 + Double(index)))
    }

    private func epoch(_ number: Int) throws -> JobEpochMetrics {
        try JSONDecoder().decode(JobEpochMetrics.self, from: Data(#"{"epoch": \#(number), "stage": 1, "train_loss": 1}"#.utf8))
    }

    func testClaimersRacingTakeEveryJobOnce() throws {
        let database = try database()
        let queues = [PostgresJobQueue(database: database, lease: 30), PostgresJobQueue(database: replica(of: database), lease: 30)]
        for index in 0..<24 { try queues[index % 2].insert(job(index), maxQueued: 100) }
        // Six workers over two replicas claim until the queue is empty.
        let claimed = try together(6) { worker -> [String] in
            var mine: [String] = []
            while let claim = try queues[worker % 2].claimNext(worker: "replica-\(worker % 2)") {
                XCTAssertEqual(claim.job.state, .running)
                mine.append(claim.job.id)
            }
            return mine
        }
        let all = claimed.flatMap { $0 }
        XCTAssertEqual(all.count, 24, "no job claimed twice")
        XCTAssertEqual(Set(all), Set((0..<24).map { "job-\($0)" }), "every job claimed")
        XCTAssertEqual(try queues[0].all().filter { $0.state == .running }.count, 24)
        XCTAssertNil(try queues[1].claimNext(worker: "late"), "leases held: nothing to take over")
    }

    func testAnExpiredLeaseIsTakenOverAndTheFormerClaimCanNeitherRenewNorWrite() throws {
        let database = try database()
        let lease = 2.0
        let first = PostgresJobQueue(database: database, lease: lease), second = PostgresJobQueue(database: replica(of: database), lease: lease)
        try first.insert(job(1), maxQueued: 10)
        let held = try XCTUnwrap(try first.claimNext(worker: "replica-a"))
        XCTAssertEqual(try first.renew(held), .held)
        XCTAssertNil(try second.claimNext(worker: "replica-b"), "the lease still runs")
        XCTAssertNotNil(try first.update(held) { $0.metrics.append(try self.epoch(1)) })
        Thread.sleep(forTimeInterval: lease + 0.3)
        let taken = try XCTUnwrap(try second.claimNext(worker: "replica-b"), "the lease ran out")
        XCTAssertEqual(taken.job.id, held.job.id)
        XCTAssertNotEqual(taken.token, held.token)
        XCTAssertEqual(taken.job.metrics.count, 1, "the job resumes with what was written")
        XCTAssertEqual(try first.renew(held), .lost)
        XCTAssertNil(try first.update(held) { $0.metrics.append(try self.epoch(2)) },
                     "the former claim writes nothing")
        XCTAssertEqual(try second.job(held.job.id).metrics.count, 1)
        XCTAssertEqual(try second.job(held.job.id).worker, "replica-b")
        XCTAssertEqual(try second.renew(taken), .held)
        // The same replica claiming again (a second worker, or a stalled one) is another claim too.
        Thread.sleep(forTimeInterval: lease + 0.3)
        let again = try XCTUnwrap(try first.claimNext(worker: "replica-b"))
        XCTAssertEqual(try second.renew(taken), .lost, "the same worker name does not pass for the new claim")
        // Cancel from any replica reaches the holder at its next renewal; its end is still written.
        _ = try first.cancel(again.job.id)
        XCTAssertEqual(try second.renew(again), .cancelRequested)
        XCTAssertEqual(try second.update(again) { $0.state = .cancelled }?.state, .cancelled)
        XCTAssertNil(try second.update(again) { $0.error = "after the end" }, "an ended job is no claim's")
        XCTAssertEqual(try first.renew(again), .lost)
    }

    func testTheQueueBoundHoldsAcrossReplicas() throws {
        let database = try database()
        let queues = [PostgresJobQueue(database: database, lease: 30), PostgresJobQueue(database: replica(of: database), lease: 30)]
        let accepted = try together(8) { index -> Bool in
            do {
                try queues[index % 2].insert(self.job(index), maxQueued: 3)
                return true
            } catch is JobQueueFull {
                return false
            }
        }
        XCTAssertEqual(accepted.filter { $0 }.count, 3)
        XCTAssertEqual(try queues[0].all().count, 3)
    }

    // MARK: The database

    func testMigrationsApplyOnceWhenReplicasStartTogether() throws {
        let database = try database()
        _ = try together(3) { _ in try self.replica(of: database).migrate(PostgresSchema.migrations, logger: self.logger) }
        let applied = try database.withConnection { try $0.query("SELECT version FROM salient_schema_migrations ORDER BY version") }
        XCTAssertEqual(applied.map { $0[0] }, PostgresSchema.migrations.map { "\($0.version)" })
    }

    func testAnUnreachableDatabaseIsRefusedAtOnce() throws {
        _ = try database()
        let server = try XCTUnwrap(PostgresStoreTests.server)
        let closed = PostgresDatabase(url: "postgresql://salient@127.0.0.1:\(server.port + 1)/postgres")
        let started = Date()
        XCTAssertThrowsError(try closed.withConnection { try $0.query("SELECT 1") }) { XCTAssertTrue($0 is DatabaseUnavailable, "\($0)") }
        XCTAssertThrowsError(try closed.withConnection { try $0.query("SELECT 1") }) { XCTAssertTrue($0 is DatabaseUnavailable, "\($0)") }
        XCTAssertLessThan(Date().timeIntervalSince(started), 1, "refused without waiting")
    }
}

/// Results written by several threads, one slot each.
private final class UnsafeMutableResults<T>: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [Result<T, Error>?]

    init(count: Int) { values = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: Result<T, Error>) { lock.withLock { values[index] = value } }
}
