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
        /// Epochs by stage and number, not by count: a row may miss an epoch for a while (its
        /// worker lost the database) and gain it later, out of order.
        var epochs: [JobEpochMetrics]
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
            if seen[job.id] == nil { seen[job.id] = Seen(epochs: job.metrics, state: job.state, progress: job.progress) }
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
        // A stream sends the job as it is when it starts: only what changes after is news.
        guard let (before, new) = seen.withLock({ seen -> (Seen, [JobEpochMetrics])? in
            guard let before = seen[id] else {
                seen[id] = Seen(epochs: job.metrics, state: job.state, progress: job.progress)
                return nil
            }
            let new = job.metrics.filter { metrics in !before.epochs.contains { $0.isSameEpoch(as: metrics) } }
            seen[id] = Seen(epochs: before.epochs + new, state: job.state, progress: job.progress)
            return (before, new)
        }) else { return }
        for metrics in new { events.publish(id, .epoch(metrics)) }
        if let progress = job.progress, progress != before.progress { events.publish(id, .progress(progress)) }
        if job.state != before.state || (job.state.isFinal && !new.isEmpty) { events.publish(id, .state(job)) }
    }
}
