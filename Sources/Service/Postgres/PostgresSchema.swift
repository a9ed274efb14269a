/// The shared database's schema, one migration per change; a migration once landed never
/// changes (add the next instead).
package enum PostgresSchema {
    package static let migrations = [
        PostgresMigration(version: 1, name: "registry, datasets and jobs", sql: """
            CREATE TABLE salient_model (
                name text PRIMARY KEY,
                default_version integer,
                next_version integer NOT NULL,
                loaded boolean NOT NULL DEFAULT true
            );
            CREATE TABLE salient_model_version (
                name text NOT NULL REFERENCES salient_model (name) ON DELETE CASCADE,
                version integer NOT NULL,
                card text NOT NULL,
                weights_sha256 text,
                object text NOT NULL,
                created timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (name, version)
            );
            CREATE INDEX salient_model_version_object ON salient_model_version (object);
            CREATE TABLE salient_dataset (
                id text PRIMARY KEY,
                document text NOT NULL,
                object text NOT NULL,
                bytes bigint NOT NULL,
                created timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX salient_dataset_object ON salient_dataset (object);
            CREATE TABLE salient_job (
                id text PRIMARY KEY,
                state text NOT NULL,
                created double precision NOT NULL,
                document text NOT NULL,
                worker text,
                lease_until timestamptz,
                cancel_requested boolean NOT NULL DEFAULT false
            );
            CREATE INDEX salient_job_queue ON salient_job (state, created, id);
            """),
        // A claim's own token: a worker name is a replica's, and two claims of one replica (two
        // workers, or a worker that stalled past its lease) must not pass for each other.
        PostgresMigration(version: 2, name: "job claim tokens", sql: """
            ALTER TABLE salient_job ADD COLUMN lease_token text;
            """),
    ]

    /// Channels of NOTIFY: a model's name when its versions or state change; a job's id when it
    /// changes, or "queued" for a new one.
    static let modelsChannel = "salient_models"
    static let jobsChannel = "salient_jobs"
}
