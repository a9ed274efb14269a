import Foundation
import XCTest

/// A PostgreSQL server of Debian's `postgresql` package in a temporary folder, as
/// Tests/replicas/test_replicas.py starts one: `initdb` (as the `postgres` user when the tests
/// run as root, since initdb refuses root), `pg_ctl start` on a free port of 127.0.0.1, stopped
/// and removed at the end. Each test takes a database of its own (`freshDatabase`).
final class ThrowawayPostgres {
    let port: Int
    private let folder: URL
    private let programs: URL
    private let asUser: [String]

    /// Skips the calling test, with the reason printed, only when the server programs are absent.
    init() throws {
        let installed = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = installed.filter({ FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/\($0)/bin/pg_ctl") })
            .max(by: { (Int($0) ?? 0) < (Int($1) ?? 0) }) else {
            throw XCTSkip("PostgreSQL's server programs are not installed (apt-get install postgresql; `make deps` does)")
        }
        programs = URL(fileURLWithPath: "/usr/lib/postgresql/\(version)/bin")
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("salient-pg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        if getuid() == 0 {
            guard let user = getpwnam("postgres") else { throw XCTSkip("running as root, and there is no postgres user to run initdb as") }
            chown(folder.path, user.pointee.pw_uid, user.pointee.pw_gid)
            asUser = ["/usr/sbin/runuser", "-u", "postgres", "--"]
        } else {
            asUser = []
        }
        port = try ThrowawayPostgres.freePort()
        try run("initdb", "-D", folder.appendingPathComponent("data").path, "-U", "salient", "--auth=trust", "-E", "UTF8", "--no-sync")
        try start()
    }

    func url(database: String = "postgres") -> String { "postgresql://salient@127.0.0.1:\(port)/\(database)" }

    func start() throws {
        try run("pg_ctl", "-D", folder.appendingPathComponent("data").path, "-o",
                "-p \(port) -c listen_addresses=127.0.0.1 -k \(folder.path) -c fsync=off", "-l",
                folder.appendingPathComponent("log").path, "-w", "start")
    }

    func stop() throws {
        try run("pg_ctl", "-D", folder.appendingPathComponent("data").path, "-m", "fast", "-w", "stop")
    }

    /// Stops the server and removes its folder.
    func remove() {
        try? stop()
        try? FileManager.default.removeItem(at: folder)
    }

    /// A new, empty database; its URL.
    func freshDatabase() throws -> String {
        let name = "test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
        try run("createdb", "-h", "127.0.0.1", "-p", "\(port)", "-U", "salient", name)
        return url(database: name)
    }

    /// Runs a program of the server's and waits for it. Not through Foundation's `Process`:
    /// `pg_ctl start` leaves the server running with what it inherited, and Process's wait for
    /// the exit then never returns; posix_spawn and waitpid wait for pg_ctl alone. Its messages
    /// go to a file, read when it fails.
    private func run(_ program: String, _ arguments: String...) throws {
        let command = asUser + [programs.appendingPathComponent(program).path] + arguments
        let messages = folder.appendingPathComponent("\(program)-\(UUID().uuidString).err")
        defer { try? FileManager.default.removeItem(at: messages) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, messages.path, O_WRONLY | O_CREAT | O_TRUNC, 0o666)
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child = pid_t()
        let spawned = posix_spawn(&child, command[0], &actions, nil, argv, environ)
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EINVAL) }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED and WEXITSTATUS by hand: the macros do not come through to Swift.
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            let text = (try? String(contentsOf: messages, encoding: .utf8)) ?? ""
            throw NSError(domain: "ThrowawayPostgres", code: Int(status), userInfo: [
                NSLocalizedDescriptionKey: "\(program) failed (wait status \(status)): \(text)"])
        }
    }

    /// A port the kernel just gave out and took back, free for the server to bind.
    private static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw POSIXError(.EMFILE) }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bind(socket, address, length) == 0 && getsockname(socket, address, &length) == 0
            }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
