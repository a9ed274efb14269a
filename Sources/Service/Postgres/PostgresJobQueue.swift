import Foundation

/// The job queue in the shared database. A worker claims the oldest job waiting, or one whose
/// lease ran out, with `FOR UPDATE SKIP LOCKED` (replicas claiming at once take different
/// jobs, none waits on another's row lock) and holds it for `lease` seconds, renewed as it
/// runs; once its replica dies, the lease runs out and another replica resumes the job from its
/// last checkpoint. Every change is announced with NOTIFY on `salient_jobs`, carrying the job's
/// id ("queued" for a new job), so other replicas' event streams and idle workers hear of it.
package final class PostgresJobQueue: JobQueue, Sendable {
    private let database: PostgresDatabase
    private let lease: TimeInterval

    package init(database: PostgresDatabase, lease: TimeInterval) {
        self.database = database
        self.lease = lease
    }

    package func insert(_ job: Job, maxQueued: Int) throws {
        let document = String(decoding: try StoredJSON.encoder.encode(job), as: UTF8.self)
        try database.transaction { connection in
            // One submission counts at a time, across replicas, so the bound holds.
            try connection.query("SELECT pg_advisory_xact_lock(7244032)")
            let queued = Int(try connection.query("SELECT COUNT(*) FROM salient_job WHERE state = 'queued'").first?[0] ?? "") ?? 0
            guard queued < maxQueued else { throw JobQueueFull(queued: queued) }
            try connection.query("INSERT INTO salient_job (id, state, created, document) VALUES ($1, $2, $3, $4)",
                                 [job.id, job.state.rawValue, "\(job.created.timeIntervalSince1970)", document])
            try notify("queued", on: connection)
        }
    }

    package func job(_ id: String) throws -> Job {
        guard let row = try database.withConnection({ try $0.query("SELECT document FROM salient_job WHERE id = $1", [id]) }).first else {
            throw ServiceError.notFound("no job '\(id)'")
        }
        return try decode(row[0])
    }

    package func all() throws -> [Job] {
        try database.withConnection { try $0.query("SELECT document FROM salient_job ORDER BY created, id") }.map { try decode($0[0]) }
    }

    @discardableResult
    package func update(_ id: String, _ change: (inout Job) throws -> Void) throws -> Job {
        try database.transaction { connection in
            guard let row = try connection.query("SELECT document FROM salient_job WHERE id = $1 FOR UPDATE", [id]).first else {
                throw ServiceError.notFound("no job '\(id)'")
            }
            var job = try decode(row[0])
            try change(&job)
            try write(job, on: connection)
            return job
        }
    }

    @discardableResult
    package func update(_ claim: JobClaim, _ change: (inout Job) throws -> Void) throws -> Job? {
        try database.transaction { connection in
            guard let row = try connection.query(
                "SELECT document FROM salient_job WHERE id = $1 AND lease_token = $2 AND state = 'running' FOR UPDATE",
                [claim.job.id, claim.token]).first else { return nil }
            var job = try decode(row[0])
            try change(&job)
            try write(job, on: connection)
            return job
        }
    }

    package func claimNext(worker: String) throws -> JobClaim? {
        try database.transaction { connection in
            guard let row = try connection.query("""
                SELECT document FROM salient_job
                WHERE state = 'queued' OR (state = 'running' AND lease_until < now())
                ORDER BY created, id LIMIT 1 FOR UPDATE SKIP LOCKED
                """).first else { return nil }
            var job = try decode(row[0])
            job.state = .running
            job.started = job.started ?? Date()
            job.worker = worker
            let token = UUID().uuidString.lowercased()
            try write(job, on: connection)
            try connection.query("""
                UPDATE salient_job SET worker = $2, lease_token = $3, lease_until = now() + $4 * interval '1 second' WHERE id = $1
                """, [job.id, worker, token, "\(lease)"])
            return JobClaim(job: job, token: token)
        }
    }

    package func renew(_ claim: JobClaim) throws -> JobLease {
        let rows = try database.withConnection { connection in
            try connection.query("""
                UPDATE salient_job SET lease_until = now() + $3 * interval '1 second'
                WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING cancel_requested
                """, [claim.job.id, claim.token, "\(lease)"])
        }
        guard let row = rows.first else { return .lost }
        return row[0] == "t" ? .cancelRequested : .held
    }

    package func cancel(_ id: String) throws -> Job {
        try database.transaction { connection in
            guard let row = try connection.query("SELECT document FROM salient_job WHERE id = $1 FOR UPDATE", [id]).first else {
                throw ServiceError.notFound("no job '\(id)'")
            }
            var job = try decode(row[0])
            guard !job.state.isFinal else { throw ServiceError.conflict("job '\(id)' has already \(job.state.rawValue)") }
            if job.state == .queued {
                job.state = .cancelled
                job.finished = Date()
            }
            try connection.query("UPDATE salient_job SET cancel_requested = true WHERE id = $1", [id])
            try write(job, on: connection)
            return job
        }
    }

    /// Nothing to do: a job whose replica stopped waits for its lease to run out.
    package func requeueInterrupted() throws -> [String] { [] }

    private func write(_ job: Job, on connection: PostgresConnection) throws {
        try connection.query("UPDATE salient_job SET state = $2, document = $3 WHERE id = $1",
                             [job.id, job.state.rawValue, String(decoding: try StoredJSON.encoder.encode(job), as: UTF8.self)])
        try notify(job.id, on: connection)
    }

    private func notify(_ payload: String, on connection: PostgresConnection) throws {
        try connection.query("SELECT pg_notify($1, $2)", [PostgresSchema.jobsChannel, payload])
    }

    private func decode(_ document: String?) throws -> Job {
        try StoredJSON.decoder.decode(Job.self, from: Data((document ?? "").utf8))
    }
}
