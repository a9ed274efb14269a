import CNN
import Foundation

/// The registry index in the shared database: a row per model (its default version, next
/// version number and whether it is loaded) and one per version (its card, and the content
/// address of its files in the shared store). Every change is announced with NOTIFY on
/// `salient_models`, carrying the model's name, when it commits.
package final class PostgresModelIndex: ModelIndex, Sendable {
    private let database: PostgresDatabase
    private let objects: ContentStore

    package init(database: PostgresDatabase, objects: ContentStore) {
        self.database = database
        self.objects = objects
    }

    package func names() throws -> [String] {
        try database.withConnection { try $0.query("SELECT name FROM salient_model ORDER BY name") }.compactMap { $0[0] }
    }

    package func record(named name: String) throws -> ModelRecord? {
        try database.transaction { connection in
            guard let model = try connection.query(
                "SELECT default_version, next_version, loaded FROM salient_model WHERE name = $1", [name]).first else { return nil }
            let state = ModelState(defaultVersion: model[0].flatMap { Int($0) }, nextVersion: Int(model[1] ?? "") ?? 1,
                                   isLoaded: model[2] == "t")
            let versions = try connection.query(
                "SELECT version, card, object FROM salient_model_version WHERE name = $1 ORDER BY version", [name]
            ).map { row in
                ModelVersionRecord(version: Int(row[0] ?? "") ?? 0,
                                   card: Result { try ModelCard(json: Data((row[1] ?? "").utf8)) },
                                   directory: objects.folder(row[2] ?? ""))
            }
            return ModelRecord(name: name, versions: versions, state: state)
        }
    }

    package func directory(of name: String, version: Int, files: [String: Data]) -> URL {
        objects.folder(ContentStore.address(of: files))
    }

    /// The files go to the shared store first, then the row that names them; a version of the
    /// same number stored at the same moment by another replica is a conflict unless it holds
    /// the same files (replicas starting together all install the bundled models). New versions
    /// come through `add`, which numbers them.
    package func store(version: Int, of name: String, card: ModelCard, files: [String: Data]) throws -> URL {
        let address = ContentStore.address(of: files)
        let card = String(decoding: try card.jsonData(), as: UTF8.self)
        return try database.transaction { connection in
            try lockModel(name, creatingWith: version + 1, on: connection)
            try connection.query("SELECT pg_advisory_xact_lock(hashtext($1))", [address])
            let directory = try objects.put(files)
            let inserted = try connection.query(
                "INSERT INTO salient_model_version (name, version, card, weights_sha256, object) VALUES ($1, $2, $3, $4, $5) "
                    + "ON CONFLICT (name, version) DO NOTHING RETURNING version",
                [name, "\(version)", card, files.count == 1 ? files.values.first.map(Checksum.sha256) : nil, address])
            if inserted.isEmpty {
                let existing = try connection.query("SELECT object FROM salient_model_version WHERE name = $1 AND version = $2",
                                                    [name, "\(version)"]).first?[0]
                guard existing == address else {
                    throw ServiceError.conflict("version \(version) of '\(name)' was registered by another replica at the same "
                        + "moment; send the request again")
                }
            }
            try notify(name, on: connection)
            return directory
        }
    }

    /// The model's row is locked first (`FOR UPDATE`): a replica adding a version of the same
    /// model at the same moment waits for this transaction and then reads the number after
    /// this one. The content's lock comes second, in the order deletions take the two.
    package func add(proposed: Int, of name: String, card: ModelCard, files: [String: Data],
                     makeDefault: Bool) throws -> (version: ModelVersionRecord, state: ModelState) {
        let address = ContentStore.address(of: files)
        let cardJSON = String(decoding: try card.jsonData(), as: UTF8.self)
        return try database.transaction { connection in
            let version = max(try lockModel(name, creatingWith: proposed, on: connection), proposed)
            try connection.query("SELECT pg_advisory_xact_lock(hashtext($1))", [address])
            let directory = try objects.put(files)
            try connection.query(
                "INSERT INTO salient_model_version (name, version, card, weights_sha256, object) VALUES ($1, $2, $3, $4, $5)",
                [name, "\(version)", cardJSON, files.count == 1 ? files.values.first.map(Checksum.sha256) : nil, address])
            guard let row = try connection.query("""
                UPDATE salient_model SET next_version = $2 + 1,
                    default_version = CASE WHEN $3 OR default_version IS NULL THEN $2 ELSE default_version END
                WHERE name = $1 RETURNING default_version, next_version, loaded
                """, [name, "\(version)", makeDefault ? "true" : "false"]).first else {
                throw PostgresError(state: nil, message: "no row for '\(name)'", connectionLost: false)
            }
            try notify(name, on: connection)
            let state = ModelState(defaultVersion: row[0].flatMap { Int($0) }, nextVersion: Int(row[1] ?? "") ?? version + 1,
                                   isLoaded: row[2] == "t")
            return (ModelVersionRecord(version: version, card: .success(card), directory: directory), state)
        }
    }

    package func setState(_ state: ModelState, of name: String) throws {
        try database.transaction { connection in
            try connection.query(
                "INSERT INTO salient_model (name, default_version, next_version, loaded) VALUES ($1, $2, $3, $4) "
                    + "ON CONFLICT (name) DO UPDATE SET default_version = $2, next_version = GREATEST(salient_model.next_version, $3), "
                    + "loaded = $4",
                [name, state.defaultVersion.map { "\($0)" }, "\(state.nextVersion)", state.isLoaded ? "true" : "false"])
            try notify(name, on: connection)
        }
    }

    package func remove(version: Int, of name: String) throws {
        try database.transaction { connection in
            let removed = try connection.query("DELETE FROM salient_model_version WHERE name = $1 AND version = $2 RETURNING object",
                                               [name, "\(version)"])
            try collect(removed.compactMap { $0[0] }, on: connection)
            try notify(name, on: connection)
        }
    }

    package func remove(name: String) throws {
        try database.transaction { connection in
            let removed = try connection.query("DELETE FROM salient_model_version WHERE name = $1 RETURNING object", [name])
            try connection.query("DELETE FROM salient_model WHERE name = $1", [name])
            try collect(removed.compactMap { $0[0] }, on: connection)
            try notify(name, on: connection)
        }
    }

    /// Locks the model's row for the transaction, inserting it first when the name is new;
    /// returns its next version number.
    @discardableResult
    private func lockModel(_ name: String, creatingWith nextVersion: Int, on connection: PostgresConnection) throws -> Int {
        try connection.query("INSERT INTO salient_model (name, next_version) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                             [name, "\(nextVersion)"])
        guard let next = try connection.query("SELECT next_version FROM salient_model WHERE name = $1 FOR UPDATE", [name])
            .first?[0].flatMap({ Int($0) }) else {
            throw PostgresError(state: nil, message: "the row of '\(name)' vanished", connectionLost: false)
        }
        return next
    }

    /// Removes stored folders nothing refers to any more, each under the lock `store` takes, so
    /// a folder another replica is about to refer to again is not pulled from under it.
    private func collect(_ addresses: [String], on connection: PostgresConnection) throws {
        for address in Set(addresses) {
            try connection.query("SELECT pg_advisory_xact_lock(hashtext($1))", [address])
            let referenced = try connection.query(
                "SELECT 1 FROM salient_model_version WHERE object = $1 UNION ALL SELECT 1 FROM salient_dataset WHERE object = $1 LIMIT 1",
                [address])
            if referenced.isEmpty { objects.remove(address) }
        }
    }

    private func notify(_ name: String, on connection: PostgresConnection) throws {
        try connection.query("SELECT pg_notify($1, $2)", [PostgresSchema.modelsChannel, name])
    }
}
