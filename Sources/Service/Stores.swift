import Foundation
import Logging

/// The three stores the service keeps its state in, each behind its protocol so that nothing
/// above knows which it has: the registry index, datasets' metadata and the job queue. All in
/// the data folder (folders and SQLite) for one process; with `database_url`, in PostgreSQL,
/// with weights and datasets in the data folder's content-addressed `objects/`, which every
/// replica mounts.
struct Stores {
    let models: ModelIndex
    let datasets: DatasetIndex
    let jobs: JobQueue
    /// The shared database, when there is one.
    let database: PostgresDatabase?

    init(configuration: ServiceConfiguration, logger: Logger) throws {
        let data = configuration.dataURL
        guard let url = configuration.databaseURL else {
            models = FolderModelIndex(root: data.appendingPathComponent("models"))
            datasets = try FolderDatasetIndex(root: data.appendingPathComponent("datasets"))
            jobs = try SQLiteJobQueue(path: data.appendingPathComponent("jobs.sqlite"))
            database = nil
            return
        }
        let database = PostgresDatabase(url: url)
        try database.migrate(PostgresSchema.migrations, logger: logger)
        let objects = try ContentStore(root: data.appendingPathComponent("objects"))
        models = PostgresModelIndex(database: database, objects: objects)
        datasets = PostgresDatasetIndex(database: database, objects: objects)
        jobs = PostgresJobQueue(database: database, lease: configuration.jobLeaseSeconds)
        self.database = database
    }
}
