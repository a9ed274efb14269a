import Foundation

/// Datasets' metadata in the shared database; their images in the shared store under the
/// content address of the whole tree.
package final class PostgresDatasetIndex: DatasetIndex, Sendable {
    private let database: PostgresDatabase
    private let objects: ContentStore

    package init(database: PostgresDatabase, objects: ContentStore) {
        self.database = database
        self.objects = objects
    }

    package var stagingRoot: URL { objects.root }

    package func all() throws -> [Dataset] {
        try database.withConnection { try $0.query("SELECT document FROM salient_dataset ORDER BY id") }
            .map { try StoredJSON.decoder.decode(Dataset.self, from: Data(($0[0] ?? "").utf8)) }
    }

    package func dataset(_ id: String) throws -> Dataset? {
        try row(id).map { try StoredJSON.decoder.decode(Dataset.self, from: Data(($0[0] ?? "").utf8)) }
    }

    package func directory(of dataset: Dataset) throws -> URL {
        guard let object = try row(dataset.id)?[1] else { throw ServiceError.notFound("no dataset '\(dataset.id)'") }
        return objects.folder(object)
    }

    private func row(_ id: String) throws -> [String?]? {
        try database.withConnection { try $0.query("SELECT document, object FROM salient_dataset WHERE id = $1", [id]) }.first
    }

    package func add(_ dataset: Dataset, from staging: URL) throws {
        let bytes = FileTree.bytes(under: staging)
        let document = String(decoding: try StoredJSON.encoder.encode(dataset), as: UTF8.self)
        let address = ContentStore.address(of: try ContentStore.digests(under: staging))
        try database.transaction { connection in
            try connection.query("SELECT pg_advisory_xact_lock(hashtext($1))", [address])
            _ = try objects.put(tree: staging)
            try connection.query("INSERT INTO salient_dataset (id, document, object, bytes) VALUES ($1, $2, $3, $4)",
                                 [dataset.id, document, address, "\(bytes)"])
        }
    }

    package func remove(_ id: String) throws {
        try database.transaction { connection in
            guard let address = try connection.query("DELETE FROM salient_dataset WHERE id = $1 RETURNING object", [id]).first?[0] else {
                return
            }
            try connection.query("SELECT pg_advisory_xact_lock(hashtext($1))", [address])
            let referenced = try connection.query(
                "SELECT 1 FROM salient_model_version WHERE object = $1 UNION ALL SELECT 1 FROM salient_dataset WHERE object = $1 LIMIT 1",
                [address])
            if referenced.isEmpty { objects.remove(address) }
        }
    }

    package func storedBytes() throws -> Int {
        try database.withConnection { try $0.query("SELECT COALESCE(SUM(bytes), 0) FROM salient_dataset") }.first?[0]
            .flatMap { Int($0) } ?? 0
    }
}
