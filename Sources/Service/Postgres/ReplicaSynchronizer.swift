import Foundation
import Logging

/// Keeps this replica in line with the others through the shared database: a connection of its
/// own LISTENs for changes to models (each reloaded or dropped here as it commits elsewhere) and
/// jobs (idle workers woken, other replicas' progress relayed to this one's event streams), and
/// every `interval` the whole registry is reconciled with the index in case a notification was
/// lost. A lost connection is opened again, and the registry reconciled at once once it is.
final class ReplicaSynchronizer: @unchecked Sendable {
    private let database: PostgresDatabase
    private let registry: ModelRegistry
    private let relay: JobEventRelay
    private let worker: JobWorker
    private let interval: TimeInterval
    private let logger: Logger
    private let condition = NSCondition()
    private var stopping = false
    private var synchronized = false
    private let finished = DispatchGroup()

    init(database: PostgresDatabase, registry: ModelRegistry, relay: JobEventRelay, worker: JobWorker,
         interval: TimeInterval, logger: Logger) {
        self.database = database
        self.registry = registry
        self.relay = relay
        self.worker = worker
        self.interval = interval
        self.logger = logger
    }

    /// True once the registry has been reconciled with the index at least once: until then this
    /// replica may lack models the others serve. It stays true while the database is away (the
    /// models in memory still serve; what needs the database answers 503).
    var hasSynchronized: Bool { condition.withLock { synchronized } }

    func start() {
        finished.enter()
        let thread = Thread { [self] in
            loop()
            finished.leave()
        }
        thread.name = "salient-replica-sync"
        thread.start()
    }

    func stop() {
        condition.withLock {
            stopping = true
            condition.broadcast()
        }
        finished.wait()
    }

    private var isStopping: Bool { condition.withLock { stopping } }

    private func loop() {
        var connected = true
        while !isStopping {
            do {
                let connection = try database.connect()
                try connection.query("LISTEN \(PostgresSchema.modelsChannel)")
                try connection.query("LISTEN \(PostgresSchema.jobsChannel)")
                if !connected { logger.notice("database reachable again") }
                connected = true
                try reconcile()
                try listen(on: connection)
            } catch {
                if connected { logger.error("replica sync lost the database", metadata: ["error": "\(error)"]) }
                connected = false
                condition.withLock { _ = stopping || condition.wait(until: Date().addingTimeInterval(0.5)) }
            }
        }
    }

    private func reconcile() throws {
        try registry.synchronizeAll()
        relay.refresh()
        condition.withLock { synchronized = true }
    }

    /// Waits for notifications, a second at most, until the connection fails or the service stops.
    private func listen(on connection: PostgresConnection) throws {
        var nextReconciliation = Date().addingTimeInterval(interval)
        var nextRefresh = Date().addingTimeInterval(1)
        while !isStopping {
            var descriptor = pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 500)
            if ready < 0 && errno != EINTR { throw PostgresError(state: nil, message: "poll: errno \(errno)", connectionLost: true) }
            for (channel, payload) in try connection.notifications() {
                switch channel {
                case PostgresSchema.modelsChannel:
                    do { try registry.synchronize(payload) } catch {
                        logger.error("cannot synchronize model", metadata: ["model": "\(payload)", "error": "\(error)"])
                    }
                case PostgresSchema.jobsChannel:
                    if payload == "queued" { worker.notify() } else { relay.changed(payload) }
                default: break
                }
            }
            let now = Date()
            if now >= nextRefresh {
                relay.refresh()
                nextRefresh = now.addingTimeInterval(1)
            }
            if now >= nextReconciliation {
                try registry.synchronizeAll()
                nextReconciliation = now.addingTimeInterval(interval)
            }
        }
    }
}
