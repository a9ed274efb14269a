import Foundation

/// Where a claimed job stands for the worker running it, asked as the worker renews its lease.
package enum JobLease: Equatable, Sendable {
    /// Still this worker's: go on.
    case held
    /// Someone asked to cancel it (on any replica): stop after this step.
    case cancelRequested
    /// Another worker holds it now (this one's lease ran out): stop and write nothing more.
    case lost
}

/// A job a worker took, and the token naming this one claim: renewals and writes under the
/// claim carry it, so once another claim took the job over (its lease ran out), the worker that
/// held it before can neither renew nor write, even when it is a worker of the same replica.
package struct JobClaim: Sendable {
    package var job: Job
    package let token: String

    package init(job: Job, token: String) {
        self.job = job
        self.token = token
    }
}

/// The fine-tuning job queue and history: one record per job. SQLite in the data folder by
/// default (`SQLiteJobQueue`); PostgreSQL when replicas share it (`PostgresJobQueue`), where a
/// claim is a lease that the worker renews and another replica takes over once it runs out.
package protocol JobQueue: AnyObject, Sendable {
    /// Adds a job, unless `maxQueued` jobs already wait for a worker (`JobQueueFull`): the count
    /// and the insert are one transaction, so submissions at once cannot pass the bound together.
    func insert(_ job: Job, maxQueued: Int) throws
    func job(_ id: String) throws -> Job
    func all() throws -> [Job]
    /// Reads, changes and writes one job in a single transaction.
    @discardableResult
    func update(_ id: String, _ change: (inout Job) throws -> Void) throws -> Job
    /// Changes a job as `update` does, only while `claim` still holds it (the job runs under
    /// that claim); nil, changing nothing, once it does not.
    @discardableResult
    func update(_ claim: JobClaim, _ change: (inout Job) throws -> Void) throws -> Job?
    /// Takes the oldest job that waits for a worker (or whose worker's lease ran out), marks it
    /// running by `worker` (a replica's name) and returns it with a new claim's token.
    func claimNext(worker: String) throws -> JobClaim?
    /// Renews the claim's lease on its running job and says whether to go on.
    func renew(_ claim: JobClaim) throws -> JobLease
    /// Cancels a queued job at once; marks a running one to stop at its worker's next renewal.
    func cancel(_ id: String) throws -> Job
    /// At start: jobs this queue's only process was running when it stopped go back to the
    /// queue (a shared queue leaves them to their leases). Returns their ids.
    func requeueInterrupted() throws -> [String]
}

/// A submission that found `max_queued_jobs` jobs already waiting.
package struct JobQueueFull: Error {
    package let queued: Int
}
