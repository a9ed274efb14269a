import Foundation
import Logging

/// Runs queued jobs on threads of its own (`jobWorkers` of them), so classification keeps
/// its own threads while a job trains. On shutdown a running job stops after its current
/// step and stays `running` in the store, to resume from its checkpoint at the next start (or,
/// on a shared queue, on another replica once its lease runs out). While a job runs, its lease
/// is renewed every `renewInterval`; a cancel asked on any replica, or a lease another worker
/// took over, stops it after the current step.
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
    /// Jobs this replica runs now.
    private var running: Set<String> = []
    /// Jobs whose lease another worker took: they stop without writing their end.
    private var lostLeases: Set<String> = []
    /// Who claims jobs: this replica's name.
    let name: String
    private let renewInterval: TimeInterval
    private let finished = DispatchGroup()
    /// How often progress is written to the store; events go out on every step.
    private let progressInterval: TimeInterval = 1

    init(store: JobQueue, events: JobEvents, runner: JobRunner, workers: Int, name: String, renewInterval: TimeInterval,
         logger: Logger) {
        self.store = store
        self.name = name
        self.renewInterval = renewInterval
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
        while let job = next() {
            run(job)
        }
    }

    /// The next job to run, waiting while the queue is empty; nil once stopping.
    private func next() -> Job? {
        condition.lock()
        defer { condition.unlock() }
        while !stopping {
            do {
                if let job = try store.claimNext(worker: name) { return job }
            } catch {
                logger.error("cannot read the job queue", metadata: ["error": "\(error)"])
            }
            _ = condition.wait(until: Date().addingTimeInterval(5))
        }
        return nil
    }

    /// Whether this replica runs the job now (its events are published here as they happen).
    func isRunningHere(_ id: String) -> Bool {
        condition.withLock { running.contains(id) }
    }

    private func shouldContinue(_ id: String) -> Bool {
        condition.withLock { !stopping && !cancelRequests.contains(id) && !lostLeases.contains(id) }
    }

    /// Renews the job's lease every `renewInterval` until the returned timer is cancelled. A
    /// renewal that cannot reach the store is retried at the next tick: the lease outlives a few.
    private func renewing(_ id: String) -> DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "salient-lease-\(id)"))
        timer.schedule(deadline: .now() + renewInterval, repeating: renewInterval)
        timer.setEventHandler { [self] in
            switch try? store.renew(id, worker: name) {
            case .cancelRequested: condition.withLock { _ = cancelRequests.insert(id) }
            case .lost:
                logger.warning("job taken over by another worker", metadata: ["job": "\(id)"])
                condition.withLock { _ = lostLeases.insert(id) }
            case .held, nil: break
            }
        }
        timer.resume()
        return timer
    }

    private func run(_ job: Job) {
        let id = job.id
        events.publish(id, .state(job))
        logger.info("job started", metadata: ["job": "\(id)", "worker": "\(name)"])
        let renewal = renewing(id)
        condition.withLock { _ = running.insert(id) }
        defer { condition.withLock { _ = running.remove(id) } }
        var lastSaved = Date.distantPast
        var lastProgress: JobProgress?
        let result: Result<JobRunner.Outcome, Error> = Result {
            try runner.run(job) { event in
                switch event {
                case let .progress(progress):
                    lastProgress = progress
                    events.publish(id, .progress(progress))
                    // Saving progress on the way is best effort: the job's end is saved below,
                    // and a failed write must not stop the training.
                    if Date().timeIntervalSince(lastSaved) > progressInterval {
                        lastSaved = Date()
                        _ = try? store.update(id) { $0.progress = progress }
                    }
                case let .epoch(metrics):
                    events.publish(id, .epoch(metrics))
                    _ = try? store.update(id) { $0.metrics.append(metrics) }
                case let .plan(plan):
                    events.publish(id, .plan(plan))
                    _ = try? store.update(id) { $0.transfer = plan }
                }
                return shouldContinue(id)
            }
        }
        renewal.cancel()
        let (cancelled, lost) = condition.withLock { (cancelRequests.remove(id) != nil, lostLeases.remove(id) != nil) }
        guard !lost else { return }
        let final: Job
        do {
            final = try store.update(id) { job in
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
                    guard cancelled else { return }
                    job.state = .cancelled
                case let .failure(error):
                    job.state = .failed
                    job.error = "\(error)"
                }
                job.finished = Date()
            }
        } catch {
            logger.error("cannot record the job's end", metadata: ["job": "\(id)", "error": "\(error)"])
            return
        }
        guard final.state.isFinal else { return }
        try? FileManager.default.removeItem(at: runner.checkpointDirectory(id).deletingLastPathComponent())
        logger.info("job ended", metadata: ["job": "\(id)", "state": "\(final.state.rawValue)"])
        events.publish(id, .state(final))
    }
}
