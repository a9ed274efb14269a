import Foundation
import Logging

/// Runs queued jobs on threads of its own (`jobWorkers` of them), so classification keeps
/// its own threads while a job trains. On shutdown a running job stops after its current
/// step and stays `running` in the store, to resume from its checkpoint at the next start (or,
/// on a shared queue, on another replica once its lease runs out). While a job runs, its lease
/// is renewed (`JobLeaseKeeper`), and the job waits while the lease is not certain; a cancel
/// asked on any replica, or a lease another worker took over, stops it after the current step.
final class JobWorker: @unchecked Sendable {
    private let store: JobQueue
    private let events: JobEvents
    private let runner: JobRunner
    private let workers: Int
    private let logger: Logger
    private let condition = NSCondition()
    private var stopping = false
    private var started = false
    private var cancelRequests: Set<String> = []
    /// The jobs this replica runs now, by id, with their leases.
    private var leases: [String: JobLeaseKeeper] = [:]
    /// Who claims jobs: this replica's name.
    let name: String
    /// How long a claim holds a job without a renewal (`job_lease_seconds`).
    private let leaseSeconds: TimeInterval
    private let finished = DispatchGroup()
    /// How often progress is written to the store; events go out on every step.
    private let progressInterval: TimeInterval = 1

    init(store: JobQueue, events: JobEvents, runner: JobRunner, workers: Int, name: String, leaseSeconds: TimeInterval,
         logger: Logger) {
        self.store = store
        self.name = name
        self.leaseSeconds = leaseSeconds
        self.events = events
        self.runner = runner
        self.workers = workers
        self.logger = logger
    }

    func start() throws {
        let resumed = try store.requeueInterrupted()
        if !resumed.isEmpty { logger.info("resuming interrupted jobs", metadata: ["jobs": "\(resumed)"]) }
        condition.withLock { started = true }
        for index in 0..<workers {
            finished.enter()
            let thread = Thread { [self] in
                loop()
                finished.leave()
            }
            thread.name = "salient-job-worker-\(index)"
            thread.start()
        }
    }

    /// Wakes a worker for a newly queued job.
    func notify() {
        condition.withLock { condition.signal() }
    }

    /// Stops the workers and waits until none is in a training step.
    func shutdown() {
        let wasStarted = condition.withLock {
            stopping = true
            condition.broadcast()
            leases.values.forEach { $0.interrupt() }
            return started
        }
        if wasStarted { finished.wait() }
    }

    /// A queued job is cancelled at once; a running one stops within one training step.
    func cancel(_ id: String) throws -> Job {
        let job = try store.cancel(id)
        if job.state == .running {
            condition.withLock { _ = cancelRequests.insert(id) }
        } else {
            events.publish(id, .state(job))
        }
        return job
    }

    private func loop() {
        while let taken = next() {
            run(taken.claim, claimed: taken.claimed)
        }
    }

    /// The next job to run and when it was claimed, waiting while the queue is empty; nil once
    /// stopping.
    private func next() -> (claim: JobClaim, claimed: TimeInterval)? {
        condition.lock()
        defer { condition.unlock() }
        while !stopping {
            let asked = JobLeaseKeeper.now
            do {
                if let claim = try store.claimNext(worker: name) { return (claim, asked) }
            } catch {
                logger.error("cannot read the job queue", metadata: ["error": "\(error)"])
            }
            _ = condition.wait(until: Date().addingTimeInterval(5))
        }
        return nil
    }

    /// Whether this replica runs the job now (its events are published here as they happen).
    func isRunningHere(_ id: String) -> Bool {
        condition.withLock { leases[id] != nil }
    }

    /// Whether to take the next step: not stopping, not cancelled, and the lease certainly held
    /// (waiting for it while the database is away).
    private func shouldContinue(_ id: String, lease: JobLeaseKeeper) -> Bool {
        guard let standing = lease.standingWhenCertain(), standing == .held else {
            if lease.lastStanding == .cancelRequested { condition.withLock { _ = cancelRequests.insert(id) } }
            return false
        }
        return condition.withLock { !stopping && !cancelRequests.contains(id) }
    }

    private func run(_ claim: JobClaim, claimed: TimeInterval) {
        let id = claim.job.id
        let lease = JobLeaseKeeper(queue: store, claim: claim, claimed: claimed, lease: leaseSeconds, logger: logger)
        events.publish(id, .state(claim.job))
        logger.info("job started", metadata: ["job": "\(id)", "worker": "\(name)"])
        condition.withLock { leases[id] = lease }
        lease.start()
        defer {
            lease.stop()
            condition.withLock { _ = leases.removeValue(forKey: id) }
        }
        var lastSaved = Date.distantPast
        var lastProgress: JobProgress?
        // Epochs not written to the job's row yet (the database was away): written with the next.
        var unsaved: [JobEpochMetrics] = []
        let result: Result<JobRunner.Outcome, Error> = Result {
            try runner.run(claim.job) { event in
                switch event {
                case let .progress(progress):
                    lastProgress = progress
                    events.publish(id, .progress(progress))
                    // Saving progress on the way is best effort: the job's end is saved below,
                    // and a failed write must not stop the training.
                    if Date().timeIntervalSince(lastSaved) > progressInterval {
                        lastSaved = Date()
                        _ = try? store.update(claim) { $0.progress = progress }
                    }
                case let .epoch(metrics):
                    events.publish(id, .epoch(metrics))
                    unsaved.append(metrics)
                    let written = try? store.update(claim) { job in
                        for metrics in unsaved where !job.metrics.contains(where: { $0.isSameEpoch(as: metrics) }) {
                            job.metrics.append(metrics)
                        }
                    }
                    if written != nil { unsaved.removeAll() }
                case let .plan(plan):
                    events.publish(id, .plan(plan))
                    _ = try? store.update(claim) { $0.transfer = plan }
                case .saving:
                    // What outlives this run is written only under a lease certainly held;
                    // a cancel or a shutdown still lets the epoch just trained be kept.
                    guard let standing = lease.standingWhenCertain() else { return false }
                    return standing != .lost
                }
                return shouldContinue(id, lease: lease)
            }
        }
        let cancelled = condition.withLock { cancelRequests.remove(id) != nil }
        guard let final = recordEnd(claim, result: result, cancelled: cancelled, lastProgress: lastProgress, lease: lease),
              final.state.isFinal else { return }
        try? FileManager.default.removeItem(at: runner.checkpointDirectory(id).deletingLastPathComponent())
        logger.info("job ended", metadata: ["job": "\(id)", "state": "\(final.state.rawValue)"])
        events.publish(id, .state(final))
    }

    /// Writes how the job ended, retrying while the database is away and the claim is not lost
    /// (the lease is still renewed meanwhile): a finished job whose end was not recorded would
    /// be run again from its checkpoint by another replica. Nil when nothing was written: the
    /// claim was lost (another replica runs the job now), or the service stops first.
    private func recordEnd(_ claim: JobClaim, result: Result<JobRunner.Outcome, Error>, cancelled: Bool,
                           lastProgress: JobProgress?, lease: JobLeaseKeeper) -> Job? {
        if case .success(.stopped) = result, !cancelled { return nil }
        if case let .failure(error) = result, error is DatabaseUnavailable {
            // Not the job's fault: it stays running, and once its lease runs out a worker
            // (maybe this one) resumes it from its checkpoint.
            logger.warning("job interrupted: the database is unavailable", metadata: ["job": "\(claim.job.id)", "error": "\(error)"])
            return nil
        }
        while true {
            guard lease.lastStanding != .lost else { return nil }
            do {
                return try store.update(claim) { job in
                    job.progress = lastProgress ?? job.progress
                    switch result {
                    case let .success(.succeeded(outcome, labels)):
                        job.state = .succeeded
                        job.metrics = outcome.metrics
                        job.labels = labels
                        job.confusionMatrix = outcome.report?.confusionMatrix
                        job.perClass = outcome.report?.perClass
                        job.transfer = outcome.plan
                    case .success(.stopped):
                        job.state = .cancelled
                    case let .failure(error):
                        job.state = .failed
                        job.error = "\(error)"
                    }
                    job.finished = Date()
                }
            } catch is DatabaseUnavailable {
                let halted = condition.withLock { () -> Bool in
                    if !self.stopping { _ = condition.wait(until: Date().addingTimeInterval(0.5)) }
                    return self.stopping
                }
                if halted { break }
            } catch {
                break
            }
        }
        logger.error("cannot record the job's end", metadata: ["job": "\(claim.job.id)"])
        return nil
    }
}
