import Foundation
import Synchronization

/// Publishes the progress of jobs that run on other replicas to this replica's event streams,
/// from the job's row: an epoch appended, progress moved, the state changed. Asked when the
/// shared queue announces a change to a job, and now and then for every watched job in case a
/// notification was missed. Jobs running here publish their own events as they happen.
final class JobEventRelay: Sendable {
    private let store: JobQueue
    private let events: JobEvents
    private let isRunningHere: @Sendable (String) -> Bool
    /// What was last published per watched job.
    private let seen = Mutex<[String: Seen]>([:])

    private struct Seen {
        var epochs: Int
        var state: JobState
        var progress: JobProgress?
    }

    init(store: JobQueue, events: JobEvents, isRunningHere: @escaping @Sendable (String) -> Bool) {
        self.store = store
        self.events = events
        self.isRunningHere = isRunningHere
    }

    /// What a new stream was sent first: changes from there on are relayed.
    func streamStarted(with job: Job) {
        seen.withLock { seen in
            if seen[job.id] == nil { seen[job.id] = Seen(epochs: job.metrics.count, state: job.state, progress: job.progress) }
        }
    }

    /// A job changed somewhere.
    func changed(_ id: String) {
        guard events.watchedJobs.contains(id) else { return }
        relay(id)
    }

    /// Every watched job, against its row.
    func refresh() {
        let watched = Set(events.watchedJobs)
        seen.withLock { seen in seen = seen.filter { watched.contains($0.key) } }
        for id in watched { relay(id) }
    }

    private func relay(_ id: String) {
        guard !isRunningHere(id), let job = try? store.job(id) else { return }
        let now = Seen(epochs: job.metrics.count, state: job.state, progress: job.progress)
        // A stream sends the job as it is when it starts: only what changes after is news.
        guard let before = seen.withLock({ seen -> Seen? in
            defer { seen[id] = now }
            return seen[id]
        }) else { return }
        if now.epochs > before.epochs {
            for metrics in job.metrics[before.epochs...] { events.publish(id, .epoch(metrics)) }
        }
        if let progress = now.progress, progress != before.progress { events.publish(id, .progress(progress)) }
        if now.state != before.state || (job.state.isFinal && now.epochs != before.epochs) { events.publish(id, .state(job)) }
    }
}
