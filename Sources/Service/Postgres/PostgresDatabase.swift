import Foundation
import HTTPServer
import HTTPTypes
import Logging

/// The PostgreSQL database replicas share (`database_url`): a bounded pool of libpq connections,
/// the schema brought up to date at start, and fast refusals while the server is unreachable.
package final class PostgresDatabase: @unchecked Sendable {
    package let url: String
    private let condition = NSCondition()
    private var idle: [PostgresConnection] = []
    private var open = 0
    private let maxConnections: Int
    /// After a connection attempt fails, requests are refused at once until then instead of each
    /// waiting for its own attempt to fail.
    private var downUntil = Date.distantPast

    /// `url` is a libpq connection URI (postgresql://user:password@host:port/db?sslmode=...).
    package init(url: String, maxConnections: Int = 8) {
        // A reachable address that does not answer fails in 2 s, not in the TCP timeout.
        var url = url
        if !url.contains("connect_timeout=") { url += (url.contains("?") ? "&" : "?") + "connect_timeout=2" }
        if !url.contains("application_name=") { url += "&application_name=salient" }
        self.url = url
        self.maxConnections = maxConnections
    }

    /// Runs `body` on a connection of the pool. A connection that turns out to be lost is
    /// dropped and the call refused with 503 (`DatabaseUnavailable`); a pooled connection that
    /// went stale while idle (the server restarted) is replaced once before giving up.
    package func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        for attempt in 0..<2 {
            let (connection, reused) = try checkOut()
            do {
                let value = try body(connection)
                checkIn(connection)
                return value
            } catch let error as PostgresError where error.connectionLost {
                discard()
                if !(reused && attempt == 0) { throw DatabaseUnavailable(reason: error.message) }
            } catch {
                if connection.isBroken { discard() } else { checkIn(connection) }
                throw error
            }
        }
        throw DatabaseUnavailable(reason: "the connection was lost twice")
    }

    /// `body` in a transaction on a connection of the pool.
    package func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try withConnection { connection in try connection.transaction { try body(connection) } }
    }

    /// A connection of its own, outside the pool (the listener's).
    package func connect() throws -> PostgresConnection {
        do {
            return try PostgresConnection(url: url)
        } catch let error as PostgresError {
            throw DatabaseUnavailable(reason: error.message)
        }
    }

    private func checkOut() throws -> (PostgresConnection, reused: Bool) {
        condition.lock()
        let deadline = Date().addingTimeInterval(2)
        while idle.isEmpty && open >= maxConnections {
            guard condition.wait(until: deadline) else {
                condition.unlock()
                throw DatabaseUnavailable(reason: "all \(maxConnections) database connections are busy")
            }
        }
        if let connection = idle.popLast() {
            condition.unlock()
            return (connection, true)
        }
        guard Date() >= downUntil else {
            condition.unlock()
            throw DatabaseUnavailable(reason: "the database did not answer a moment ago")
        }
        open += 1
        condition.unlock()
        do {
            return (try PostgresConnection(url: url), false)
        } catch {
            condition.withLock {
                open -= 1
                downUntil = Date().addingTimeInterval(1)
                condition.signal()
            }
            throw DatabaseUnavailable(reason: (error as? PostgresError)?.message ?? "\(error)")
        }
    }

    private func checkIn(_ connection: PostgresConnection) {
        condition.withLock {
            idle.append(connection)
            condition.signal()
        }
    }

    /// A checked-out connection is gone; every idle one was opened before it and is likely gone too.
    private func discard() {
        condition.withLock {
            open -= 1 + idle.count
            idle.removeAll()
            condition.signal()
        }
    }

    /// Applies the migrations the database has not seen, in order, each in its own transaction,
    /// under an advisory lock so that replicas starting together apply each once.
    package func migrate(_ migrations: [PostgresMigration], logger: Logger) throws {
        let connection = try connect()
        // Held by this session until it closes: replicas starting together migrate one at a time
        // (CREATE TABLE IF NOT EXISTS itself is not safe against a concurrent one).
        try connection.query("SELECT pg_advisory_lock(7244031)")
        try connection.query("CREATE TABLE IF NOT EXISTS salient_schema_migrations (version integer PRIMARY KEY, "
            + "name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())")
        for migration in migrations.sorted(by: { $0.version < $1.version }) {
            try connection.transaction {
                let applied = try connection.query("SELECT 1 FROM salient_schema_migrations WHERE version = $1",
                                                   ["\(migration.version)"])
                guard applied.isEmpty else { return }
                try connection.execute(script: migration.sql)
                try connection.query("INSERT INTO salient_schema_migrations (version, name) VALUES ($1, $2)",
                                     ["\(migration.version)", migration.name])
                logger.notice("applied database migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            }
        }
    }
}

/// One step of the schema, applied once per database.
package struct PostgresMigration {
    package let version: Int
    package let name: String
    package let sql: String
}

/// The shared database cannot be reached now: 503, to be retried.
package struct DatabaseUnavailable: HTTPResponseError, CustomStringConvertible {
    package let reason: String
    package var status: HTTPResponse.Status { .serviceUnavailable }
    package var code: String { "database_unavailable" }
    package var message: String { "the shared database is unavailable: \(reason)" }
    package var headerFields: HTTPFields { [.retryAfter: "1"] }
    package var description: String { message }
}
