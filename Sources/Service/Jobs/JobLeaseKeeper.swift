import Foundation
import Logging

/// Holds a claimed job's lease while a worker runs it. It renews the lease every third of its
/// length (every half second after a renewal failed, so a database that comes back is used at
/// once), and knows how long the lease is certainly held: for its length from the moment the
/// last renewal that succeeded was sent, by this machine's monotonic clock, which can only be
/// earlier than the database's own deadline.
///
/// A worker goes on only while at least half the lease is certain. Past that (the database has
/// been unreachable for half a lease) it waits, writing nothing, until a renewal succeeds or the
/// claim turns out taken over; so whatever it writes after its last check (the rest of a step,
/// the epoch's validation and checkpoint) lands while no other replica can have claimed the job,
/// as long as that takes less than half a lease.
final class JobLeaseKeeper: @unchecked Sendable {
    private let queue: JobQueue
    private let claim: JobClaim
    private let lease: TimeInterval
    private let logger: Logger
    private let condition = NSCondition()
    private var certainUntil: TimeInterval
    private var standing = JobLease.held
    private var interrupted = false
    private var ended = false
    private let timer: DispatchSourceTimer

    /// `claimed` is when the claim was asked for, on `Self.now`'s clock.
    init(queue: JobQueue, claim: JobClaim, claimed: TimeInterval, lease: TimeInterval, logger: Logger) {
        self.queue = queue
        self.claim = claim
        self.lease = lease
        self.logger = logger
        certainUntil = claimed + lease
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "salient-lease-\(claim.job.id)"))
    }

    /// Seconds on a clock that never jumps (uptime).
    static var now: TimeInterval { ProcessInfo.processInfo.systemUptime }

    func start() {
        timer.schedule(deadline: .now() + lease / 3)
        timer.setEventHandler { [self] in renew() }
        timer.resume()
    }

    /// Stops renewing: the job ended, or the worker gave it up.
    func stop() {
        condition.withLock {
            ended = true
            condition.broadcast()
        }
        timer.cancel()
    }

    /// Wakes a waiting worker for good: the service is shutting down.
    func interrupt() {
        condition.withLock {
            interrupted = true
            condition.broadcast()
        }
    }

    private func renew() {
        let sent = Self.now
        let answer: JobLease?
        do {
            answer = try queue.renew(claim)
        } catch {
            answer = nil
            logger.warning("cannot renew the job's lease", metadata: ["job": "\(claim.job.id)", "error": "\(error)"])
        }
        let ended = condition.withLock { () -> Bool in
            if let answer {
                standing = answer
                if answer != .lost { certainUntil = max(certainUntil, sent + lease) }
            }
            condition.broadcast()
            return self.ended
        }
        if answer == .lost { logger.warning("job taken over by another worker", metadata: ["job": "\(claim.job.id)"]) }
        guard !ended, answer != .lost else { return }
        timer.schedule(deadline: .now() + (answer == nil ? 0.5 : lease / 3))
    }

    /// Where the claim stands once at least half the lease is certain, waiting for a renewal
    /// until then; nil when interrupted while waiting.
    func standingWhenCertain() -> JobLease? {
        condition.lock()
        defer { condition.unlock() }
        var waiting = false
        while standing != .lost && certainUntil - Self.now < lease / 2 {
            if interrupted { return nil }
            if !waiting {
                waiting = true
                logger.warning("job paused: its lease could not be renewed", metadata: ["job": "\(claim.job.id)"])
            }
            _ = condition.wait(until: Date().addingTimeInterval(0.25))
        }
        if waiting && standing != .lost { logger.notice("job resumed: its lease is renewed", metadata: ["job": "\(claim.job.id)"]) }
        return standing
    }

    /// What the last renewal said, without waiting.
    var lastStanding: JobLease { condition.withLock { standing } }
}
