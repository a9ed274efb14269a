import Foundation
import GRDB

/// The job queue in SQLite (`data/jobs.sqlite`): one row per job, its state in a column for
/// the queue's queries and the whole job as JSON. One process owns the file, so a claim needs
/// no lease.
final class SQLiteJobQueue: JobQueue, Sendable {
    private let database: DatabaseQueue

    init(path: URL) throws {
        try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        database = try DatabaseQueue(path: path.path)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("jobs") { db in
            try db.create(table: "job") { t in
                t.primaryKey("id", .text)
                t.column("state", .text).notNull().indexed()
                t.column("created", .double).notNull()
                t.column("document", .blob).notNull()
            }
        }
        migrator.registerMigration("cancel") { db in
            try db.alter(table: "job") { t in t.add(column: "cancel_requested", .boolean).notNull().defaults(to: false) }
        }
        try migrator.migrate(database)
    }

    func insert(_ job: Job, maxQueued: Int = .max) throws {
        let document = try StoredJSON.encoder.encode(job)
        try database.write { db in
            let queued = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM job WHERE state = 'queued'") ?? 0
            guard queued < maxQueued else { throw JobQueueFull(queued: queued) }
            try db.execute(sql: "INSERT INTO job (id, state, created, document) VALUES (?, ?, ?, ?)",
                           arguments: [job.id, job.state.rawValue, job.created.timeIntervalSince1970, document])
        }
    }

    func job(_ id: String) throws -> Job {
        let document = try database.read { db in
            try Data.fetchOne(db, sql: "SELECT document FROM job WHERE id = ?", arguments: [id])
        }
        guard let document else { throw ServiceError.notFound("no job '\(id)'") }
        return try StoredJSON.decoder.decode(Job.self, from: document)
    }

    func all() throws -> [Job] {
        try database.read { db in
            try Data.fetchAll(db, sql: "SELECT document FROM job ORDER BY created, id")
        }.map { try StoredJSON.decoder.decode(Job.self, from: $0) }
    }

    @discardableResult
    func update(_ id: String, _ change: (inout Job) throws -> Void) throws -> Job {
        try database.write { db in
            guard let document = try Data.fetchOne(db, sql: "SELECT document FROM job WHERE id = ?", arguments: [id]) else {
                throw ServiceError.notFound("no job '\(id)'")
            }
            var job = try StoredJSON.decoder.decode(Job.self, from: document)
            try change(&job)
            try db.execute(sql: "UPDATE job SET state = ?, document = ? WHERE id = ?",
                           arguments: [job.state.rawValue, try StoredJSON.encoder.encode(job), id])
            return job
        }
    }

    /// One process owns the queue, so a claim is held until its job ends: while it runs, only
    /// its own worker writes it.
    @discardableResult
    func update(_ claim: JobClaim, _ change: (inout Job) throws -> Void) throws -> Job? {
        try update(claim.job.id, change)
    }

    func claimNext(worker: String) throws -> JobClaim? {
        let id = try database.read { db in
            try String.fetchOne(db, sql: "SELECT id FROM job WHERE state = 'queued' ORDER BY created, id LIMIT 1")
        }
        guard let id else { return nil }
        let job = try update(id) { job in
            guard job.state == .queued else { return }
            job.state = .running
            job.started = job.started ?? Date()
            job.worker = worker
        }
        return job.state == .running ? JobClaim(job: job, token: UUID().uuidString) : try claimNext(worker: worker)
    }

    func renew(_ claim: JobClaim) throws -> JobLease {
        let requested = try database.read { db in
            try Bool.fetchOne(db, sql: "SELECT cancel_requested FROM job WHERE id = ?", arguments: [claim.job.id])
        }
        return requested == true ? .cancelRequested : .held
    }

    func cancel(_ id: String) throws -> Job {
        try database.write { db in
            guard let document = try Data.fetchOne(db, sql: "SELECT document FROM job WHERE id = ?", arguments: [id]) else {
                throw ServiceError.notFound("no job '\(id)'")
            }
            var job = try StoredJSON.decoder.decode(Job.self, from: document)
            guard !job.state.isFinal else { throw ServiceError.conflict("job '\(id)' has already \(job.state.rawValue)") }
            if job.state == .queued {
                job.state = .cancelled
                job.finished = Date()
            }
            try db.execute(sql: "UPDATE job SET state = ?, document = ?, cancel_requested = 1 WHERE id = ?",
                           arguments: [job.state.rawValue, try StoredJSON.encoder.encode(job), id])
            return job
        }
    }

    /// Jobs that were running when the process stopped go back to the queue; they resume
    /// from their last checkpoint.
    func requeueInterrupted() throws -> [String] {
        let ids = try database.read { db in try String.fetchAll(db, sql: "SELECT id FROM job WHERE state = 'running'") }
        for id in ids { try update(id) { $0.state = .queued } }
        return ids
    }
}
