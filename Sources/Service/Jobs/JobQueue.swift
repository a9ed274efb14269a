import Foundation

/// Where a claimed job stands for the worker running it, asked as the worker renews its lease.
enum JobLease: Equatable {
    /// Still this worker's: go on.
    case held
    /// Someone asked to cancel it (on any replica): stop after this step.
    case cancelRequested
    /// Another worker holds it now (this one's lease ran out): stop and write nothing more.
    case lost
}

/// The fine-tuning job queue and history: one record per job. SQLite in the data folder by
/// default (`SQLiteJobQueue`); PostgreSQL when replicas share it (`PostgresJobQueue`), where a
/// claim is a lease that the worker renews and another replica takes over once it runs out.
protocol JobQueue: AnyObject, Sendable {
    /// Adds a job, unless `maxQueued` jobs already wait for a worker (`JobQueueFull`): the count
    /// and the insert are one transaction, so submissions at once cannot pass the bound together.
    func insert(_ job: Job, maxQueued: Int) throws
    func job(_ id: String) throws -> Job
    func all() throws -> [Job]
    /// Reads, changes and writes one job in a single transaction.
    @discardableResult
    func update(_ id: String, _ change: (inout Job) throws -> Void) throws -> Job
    /// Takes the oldest job that waits for a worker (or whose worker's lease ran out), marks it
    /// running by `worker` and returns it.
    func claimNext(worker: String) throws -> Job?
    /// Renews `worker`'s lease on a running job and says whether to go on.
    func renew(_ id: String, worker: String) throws -> JobLease
    /// Cancels a queued job at once; marks a running one to stop at its worker's next renewal.
    func cancel(_ id: String) throws -> Job
    /// At start: jobs this queue's only process was running when it stopped go back to the
    /// queue (a shared queue leaves them to their leases). Returns their ids.
    func requeueInterrupted() throws -> [String]
}

/// A submission that found `max_queued_jobs` jobs already waiting.
struct JobQueueFull: Error {
    let queued: Int
}
