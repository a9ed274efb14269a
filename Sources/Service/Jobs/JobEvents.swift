import Foundation

/// What a job reports while it runs, fanned out to the event streams watching it.
enum JobEvent: Sendable {
    case progress(JobProgress)
    case epoch(JobEpochMetrics)
    case plan(TransferPlan)
    case state(Job)
}

final class JobEvents: @unchecked Sendable {
    typealias Subscriber = @Sendable (JobEvent) -> Void
    private let lock = NSLock()
    private var subscribers: [String: [UUID: Subscriber]] = [:]

    func subscribe(_ jobID: String, _ subscriber: @escaping Subscriber) -> UUID {
        let token = UUID()
        lock.withLock { subscribers[jobID, default: [:]][token] = subscriber }
        return token
    }

    func unsubscribe(_ jobID: String, _ token: UUID) {
        lock.withLock {
            subscribers[jobID]?[token] = nil
            if subscribers[jobID]?.isEmpty == true { subscribers[jobID] = nil }
        }
    }

    /// The jobs someone watches now.
    var watchedJobs: [String] { lock.withLock { Array(subscribers.keys) } }

    func publish(_ jobID: String, _ event: JobEvent) {
        let targets = lock.withLock { subscribers[jobID].map { Array($0.values) } ?? [] }
        for subscriber in targets { subscriber(event) }
    }
}
