import Foundation
import Synchronization

/// What a job reports while it runs, fanned out to the event streams watching it.
enum JobEvent: Sendable {
    case progress(JobProgress)
    case epoch(JobEpochMetrics)
    case plan(TransferPlan)
    case state(Job)
}

final class JobEvents: Sendable {
    typealias Subscriber = @Sendable (JobEvent) -> Void
    private let subscribers = Mutex<[String: [UUID: Subscriber]]>([:])

    func subscribe(_ jobID: String, _ subscriber: @escaping Subscriber) -> UUID {
        let token = UUID()
        subscribers.withLock { $0[jobID, default: [:]][token] = subscriber }
        return token
    }

    func unsubscribe(_ jobID: String, _ token: UUID) {
        subscribers.withLock { subscribers in
            subscribers[jobID]?[token] = nil
            if subscribers[jobID]?.isEmpty == true { subscribers[jobID] = nil }
        }
    }

    /// The jobs someone watches now.
    var watchedJobs: [String] { subscribers.withLock { Array($0.keys) } }

    func publish(_ jobID: String, _ event: JobEvent) {
        let targets = subscribers.withLock { subscribers in subscribers[jobID].map { Array($0.values) } ?? [] }
        for subscriber in targets { subscriber(event) }
    }
}
