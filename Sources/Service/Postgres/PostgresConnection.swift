import CPostgres
import Foundation

/// What PostgreSQL answered an error with, or why a connection failed.
package struct PostgresError: Error, CustomStringConvertible {
    /// The SQLSTATE code (such as 40001), nil when the connection itself failed.
    package let state: String?
    let message: String
    /// True when the connection is gone: the next use reconnects.
    let connectionLost: Bool

    package var description: String { state.map { "PostgreSQL \($0): \(message)" } ?? "PostgreSQL: \(message)" }
}

/// One libpq connection, used by one thread at a time. Parameters and results travel as text,
/// which PostgreSQL converts to and from the columns' types.
package final class PostgresConnection {
    private let connection: OpaquePointer

    init(url: String) throws {
        guard let connection = PQconnectdb(url) else {
            throw PostgresError(state: nil, message: "out of memory", connectionLost: true)
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(connection)
            throw PostgresError(state: nil, message: message, connectionLost: true)
        }
        self.connection = connection
        // Notices (such as "relation already exists, skipping") are not errors; keep them off stderr.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
    }

    deinit { PQfinish(connection) }

    var isBroken: Bool { PQstatus(connection) != CONNECTION_OK }

    /// Runs one statement with `$1`... parameters (nil is NULL) and returns its rows.
    @discardableResult
    package func query(_ sql: String, _ parameters: [String?] = []) throws -> [[String?]] {
        // The strings must outlive the call: strdup'd copies, freed after.
        let copies = parameters.map { $0.map { strdup($0) } ?? nil }
        defer { copies.forEach { free($0) } }
        let values: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } }
        let result = values.withUnsafeBufferPointer { values in
            PQexecParams(connection, sql, Int32(parameters.count), nil, values.baseAddress, nil, nil, 0)
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK:
            let rows = Int(PQntuples(result)), columns = Int(PQnfields(result))
            return (0..<rows).map { row in
                (0..<columns).map { column in
                    PQgetisnull(result, Int32(row), Int32(column)) == 1 ? nil
                        : String(cString: PQgetvalue(result, Int32(row), Int32(column)))
                }
            }
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return []
        default:
            throw error(result)
        }
    }

    private func error(_ result: OpaquePointer?) -> PostgresError {
        let state = result.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "C"))) }.map { String(cString: $0) }
        let message = result.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "M"))) }.map { String(cString: $0) }
            ?? String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
        // Class 08 is "connection exception"; 57P0x is the server shutting down.
        let lost = isBroken || state?.hasPrefix("08") == true || state?.hasPrefix("57P") == true
        return PostgresError(state: state, message: message, connectionLost: lost)
    }

    /// Runs several statements without parameters (a migration).
    func execute(script: String) throws {
        let result = PQexec(connection, script)
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY else { throw error(result) }
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    package func transaction<T>(_ body: () throws -> T) throws -> T {
        try query("BEGIN")
        do {
            let value = try body()
            try query("COMMIT")
            return value
        } catch {
            if !isBroken { _ = try? query("ROLLBACK") }
            throw error
        }
    }

    // MARK: LISTEN

    /// The socket to wait on for notifications.
    var socket: Int32 { PQsocket(connection) }

    /// Reads what arrived on the socket and returns the notifications' channels and payloads.
    func notifications() throws -> [(channel: String, payload: String)] {
        guard PQconsumeInput(connection) == 1 else {
            throw PostgresError(state: nil, message: String(cString: PQerrorMessage(connection)), connectionLost: true)
        }
        var received: [(String, String)] = []
        while let notification = PQnotifies(connection) {
            received.append((String(cString: notification.pointee.relname), String(cString: notification.pointee.extra)))
            PQfreemem(notification)
        }
        return received
    }
}
