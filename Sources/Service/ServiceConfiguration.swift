import Foundation
import HTTPServer

/// What an operator configures. Built from the embedded defaults, then `config/salient.json`
/// (or the file named by `SALIENT_CONFIG`), then environment variables, then flags; each
/// layer overrides the one before. Every key is documented in config/README.md.
public struct ServiceConfiguration: Sendable {
    public var server = HTTPServerConfiguration()
    /// The address to listen on; nil listens on 127.0.0.1 without a token and on every
    /// interface (0.0.0.0) with one (`listenHost`).
    public var host: String?
    /// Allows listening beyond this machine with no token at all (`checkExposure`).
    public var insecureOpen = false
    public var dataDirectory = "data"
    public var publicDirectory = "public"
    public var defaultModel = "fashion-cnn"
    /// The management (write) token: when set, routes that change state need
    /// `Authorization: Bearer <token>`; it is accepted on reads too.
    public var apiToken: String?
    /// The inference (read) token: when set, reads (listings, classification, saliency,
    /// metrics) need it or the management token. Alone, it guards writes as well.
    public var readToken: String?
    /// Reads need a token even without `readToken` (then the management token).
    public var protectReads = false
    /// Host names that requests may address besides localhost and IP literals, which are always
    /// allowed; "*" allows any (DNS rebinding defence, `HostPolicy`).
    public var allowedHosts: [String] = []
    /// Origins whose pages may send requests that change state or compute, besides the
    /// server's own origin; "*" allows any (cross-site request defence, `OriginPolicy`).
    public var allowedOrigins: [String] = []
    /// Inference or saliency computations that run at once; more requests wait (queue depth).
    public var inferenceThreads = 2
    /// Threads one computation splits across (`EngineThreads`); 1 favours throughput under load.
    public var engineThreads = 1
    public var maxImagePixels = 40_000_000
    public var maxImageBytes = 32 << 20
    public var maxUploadBytes = 512 << 20
    public var saliencyCacheEntries = 256
    /// Inference requests (classify, saliency, `/v2` infer) that may wait for a handler; beyond
    /// it they are answered 503 with Retry-After.
    public var maxQueuedRequests = 64
    /// The same for reads (listings, cards, exports), writes (uploads, deletions, jobs) and
    /// operations (health, metrics, the UI's files).
    public var maxQueuedReads = 64
    public var maxQueuedWrites = 16
    public var maxQueuedOperations = 64
    /// Fine-tuning jobs that may wait for a worker; a submission beyond gets 503 with Retry-After.
    public var maxQueuedJobs = 16
    /// Classifications of one model that arriving together run as one batch of up to this
    /// many images; 1 turns batching off.
    public var maxBatchSize = 8
    /// The longest a batch waits for requests still being decoded, from its oldest request's
    /// arrival; a request that comes alone never waits.
    public var maxBatchDelayMilliseconds = 2.0
    public var jobWorkers = 1
    public var trainingThreads = 1
    /// A PostgreSQL connection URI (postgresql://user:password@host:port/db): the registry index,
    /// datasets' metadata and the job queue live there, shared by every replica that names it and
    /// mounts the same data folder. Nil: SQLite and folders in the data folder, for one process.
    public var databaseURL: String?
    /// How often a replica reconciles its models with the shared index besides LISTEN/NOTIFY.
    public var reconcileSeconds = 5.0
    /// How long a claimed job stays its worker's without a renewal (renewed every third of it):
    /// on a shared queue, another replica resumes a job this long after its replica died.
    public var jobLeaseSeconds = 15.0
    /// This process's name in the job queue and the logs: the host name (a pod's name) and the
    /// process id unless set.
    public var replicaName = "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
    /// What one request, one upload and the data folder may cost (`ResourceBudgets`).
    public var budgets = ResourceBudgets()

    public init() {}

    /// Keys of config/salient.json, as they appear in the file.
    private struct File: Decodable {
        var host: String?
        var insecure_open: Bool?
        var port: Int?
        var data_directory: String?
        var public_directory: String?
        var default_model: String?
        var api_token: String?
        var api_token_file: String?
        var read_token: String?
        var read_token_file: String?
        var protect_reads: Bool?
        var allowed_hosts: [String]?
        var allowed_origins: [String]?
        var inference_threads: Int?
        var engine_threads: Int?
        var max_image_pixels: Int?
        var max_image_bytes: Int?
        var max_body_bytes: Int?
        var max_upload_bytes: Int?
        var max_connections: Int?
        var header_read_timeout_seconds: Double?
        var idle_timeout_seconds: Double?
        var saliency_cache_entries: Int?
        var max_queued_requests: Int?
        var max_queued_reads: Int?
        var max_queued_writes: Int?
        var max_queued_operations: Int?
        var max_queued_jobs: Int?
        var max_buffered_body_bytes: Int?
        var retry_after_seconds: Int?
        var max_batch_size: Int?
        var max_batch_delay_ms: Double?
        var job_workers: Int?
        var training_threads: Int?
        var database_url: String?
        var database_url_file: String?
        var reconcile_seconds: Double?
        var job_lease_seconds: Double?
        var replica_name: String?
        var tls_certificate: String?
        var tls_private_key: String?
    }

    public struct Error: Swift.Error, CustomStringConvertible {
        public let description: String
    }

    /// Defaults, then the configuration file, then the environment.
    public static func load(file: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServiceConfiguration {
        var configuration = ServiceConfiguration()
        let path = file ?? environment["SALIENT_CONFIG"] ?? (FileManager.default.fileExists(atPath: "config/salient.json") ? "config/salient.json" : nil)
        if let path {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw Error(description: "cannot read the configuration file \(path)")
            }
            do {
                try configuration.apply(JSONDecoder().decode(File.self, from: data))
                try configuration.budgets.apply(JSONDecoder().decode(ResourceBudgets.File.self, from: data))
            } catch let error as DecodingError {
                throw Error(description: "\(path): \(error)")
            }
        }
        try configuration.apply(environment: environment)
        try configuration.budgets.apply(environment: environment)
        try configuration.validate()
        return configuration
    }

    private mutating func apply(_ f: File) throws {
        if let v = f.host { host = v }
        if let v = f.insecure_open { insecureOpen = v }
        if let v = f.port { server.port = v }
        if let v = f.data_directory { dataDirectory = v }
        if let v = f.public_directory { publicDirectory = v }
        if let v = f.default_model { defaultModel = v }
        if let v = try Self.token(value: f.api_token, file: f.api_token_file, settings: ("api_token", "api_token_file")) {
            apiToken = v
        }
        if let v = try Self.token(value: f.read_token, file: f.read_token_file, settings: ("read_token", "read_token_file")) {
            readToken = v
        }
        if let v = f.protect_reads { protectReads = v }
        if let v = f.allowed_hosts { allowedHosts = v }
        if let v = f.allowed_origins { allowedOrigins = v }
        if let v = f.inference_threads { inferenceThreads = v }
        if let v = f.engine_threads { engineThreads = v }
        if let v = f.max_image_pixels { maxImagePixels = v }
        if let v = f.max_image_bytes { maxImageBytes = v }
        if let v = f.max_body_bytes { server.maxBodyBytes = v }
        if let v = f.max_upload_bytes { maxUploadBytes = v }
        if let v = f.max_connections { server.maxConnections = v }
        if let v = f.header_read_timeout_seconds { server.headerReadTimeout = v }
        if let v = f.idle_timeout_seconds { server.idleTimeout = v }
        if let v = f.saliency_cache_entries { saliencyCacheEntries = v }
        if let v = f.max_queued_requests { maxQueuedRequests = v }
        if let v = f.max_queued_reads { maxQueuedReads = v }
        if let v = f.max_queued_writes { maxQueuedWrites = v }
        if let v = f.max_queued_operations { maxQueuedOperations = v }
        if let v = f.max_queued_jobs { maxQueuedJobs = v }
        if let v = f.max_buffered_body_bytes { server.maxBufferedBodyBytes = v }
        if let v = f.retry_after_seconds { server.retryAfterSeconds = v }
        if let v = f.max_batch_size { maxBatchSize = v }
        if let v = f.max_batch_delay_ms { maxBatchDelayMilliseconds = v }
        if let v = f.job_workers { jobWorkers = v }
        if let v = f.training_threads { trainingThreads = v }
        if let v = try Self.secret(value: f.database_url, file: f.database_url_file) { databaseURL = v }
        if let v = f.reconcile_seconds { reconcileSeconds = v }
        if let v = f.job_lease_seconds { jobLeaseSeconds = v }
        if let v = f.replica_name { replicaName = v }
        if let certificate = f.tls_certificate, let key = f.tls_private_key {
            server.tls = .init(certificatePath: certificate, privateKeyPath: key)
        }
        try validate()
    }

    private mutating func apply(environment: [String: String]) throws {
        func int(_ key: String) throws -> Int? {
            guard let text = environment[key] else { return nil }
            guard let value = Int(text) else { throw Error(description: "\(key)=\(text) is not a whole number") }
            return value
        }
        if let v = try int("SALIENT_PORT") { server.port = v }
        func bool(_ key: String) throws -> Bool? {
            guard let text = environment[key] else { return nil }
            switch text.lowercased() {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off": return false
            default: throw Error(description: "\(key)=\(text) is not true or false (1 or 0)")
            }
        }
        func list(_ key: String) -> [String]? {
            environment[key].map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        }
        if let v = environment["SALIENT_HOST"] { host = v }
        if let v = try bool("SALIENT_INSECURE_OPEN") { insecureOpen = v }
        if let v = environment["SALIENT_DATA_DIR"] { dataDirectory = v }
        if let v = environment["SALIENT_PUBLIC_DIR"] { publicDirectory = v }
        if let v = environment["SALIENT_DEFAULT_MODEL"] { defaultModel = v }
        if let v = try Self.token(value: environment["SALIENT_API_TOKEN"], file: environment["SALIENT_API_TOKEN_FILE"],
                                  settings: ("SALIENT_API_TOKEN", "SALIENT_API_TOKEN_FILE")) {
            apiToken = v
        }
        if let v = try Self.token(value: environment["SALIENT_READ_TOKEN"], file: environment["SALIENT_READ_TOKEN_FILE"],
                                  settings: ("SALIENT_READ_TOKEN", "SALIENT_READ_TOKEN_FILE")) {
            readToken = v
        }
        if let v = try bool("SALIENT_PROTECT_READS") { protectReads = v }
        if let v = list("SALIENT_ALLOWED_HOSTS") { allowedHosts = v }
        if let v = list("SALIENT_ALLOWED_ORIGINS") { allowedOrigins = v }
        if let v = try int("SALIENT_THREADS") { inferenceThreads = v }
        if let v = try int("SALIENT_ENGINE_THREADS") { engineThreads = v }
        if let v = try int("SALIENT_JOB_WORKERS") { jobWorkers = v }
        if let v = try int("SALIENT_TRAINING_THREADS") { trainingThreads = v }
        if let v = environment["SALIENT_REPLICA_NAME"] { replicaName = v }
        if let v = try Self.secret(value: environment["SALIENT_DATABASE_URL"], file: environment["SALIENT_DATABASE_URL_FILE"]) {
            databaseURL = v
        }
        if let v = try int("SALIENT_MAX_BATCH_SIZE") { maxBatchSize = v }
        if let v = try int("SALIENT_MAX_QUEUED_REQUESTS") { maxQueuedRequests = v }
        if let v = try int("SALIENT_MAX_QUEUED_READS") { maxQueuedReads = v }
        if let v = try int("SALIENT_MAX_QUEUED_WRITES") { maxQueuedWrites = v }
        if let v = try int("SALIENT_MAX_QUEUED_OPERATIONS") { maxQueuedOperations = v }
        if let v = try int("SALIENT_MAX_QUEUED_JOBS") { maxQueuedJobs = v }
        if let v = try int("SALIENT_MAX_BUFFERED_BODY_BYTES") { server.maxBufferedBodyBytes = v }
        if let text = environment["SALIENT_MAX_BATCH_DELAY_MS"] {
            guard let v = Double(text) else { throw Error(description: "SALIENT_MAX_BATCH_DELAY_MS=\(text) is not a number") }
            maxBatchDelayMilliseconds = v
        }
        try validate()
    }

    public func validate() throws {
        guard (0...65535).contains(server.port) else { throw Error(description: "port \(server.port) is out of range") }
        if let host, host.trimmingCharacters(in: .whitespaces).isEmpty {
            throw Error(description: "host is empty: give an address such as 127.0.0.1, 0.0.0.0 or ::")
        }
        for (value, setting) in [(apiToken, "api_token"), (readToken, "read_token")] {
            if let value { _ = try Self.checkedToken(value, setting: setting) }
        }
        guard inferenceThreads >= 1, engineThreads >= 1, jobWorkers >= 0, trainingThreads >= 1 else {
            throw Error(description: "thread counts and the batch size must be positive")
        }
        for (value, setting) in [(maxQueuedRequests, "max_queued_requests"), (maxQueuedReads, "max_queued_reads"),
                                 (maxQueuedWrites, "max_queued_writes"), (maxQueuedOperations, "max_queued_operations"),
                                 (maxQueuedJobs, "max_queued_jobs")]
            where value < 0 {
            throw Error(description: "\(setting) \(value) is negative; 0 refuses every request that would wait")
        }
        for (limit, setting) in [(server.maxBodyBytes, "max_body_bytes"), (maxUploadBytes, "max_upload_bytes")]
            where server.maxBufferedBodyBytes < limit {
            throw Error(description: "max_buffered_body_bytes \(server.maxBufferedBodyBytes) is below \(setting) \(limit): "
                + "a request at that limit could never be taken")
        }
        if let databaseURL, !(databaseURL.hasPrefix("postgresql://") || databaseURL.hasPrefix("postgres://")) {
            throw Error(description: "database_url must be a URI starting postgresql:// (it is \(databaseURL.prefix(12))...)")
        }
        guard reconcileSeconds > 0 else { throw Error(description: "reconcile_seconds must be positive") }
        guard jobLeaseSeconds >= 3 else {
            throw Error(description: "job_lease_seconds \(jobLeaseSeconds) is below 3: a lease is renewed every third of it")
        }
        guard !replicaName.isEmpty else { throw Error(description: "replica_name is empty") }
        guard server.retryAfterSeconds >= 0 else {
            throw Error(description: "retry_after_seconds \(server.retryAfterSeconds) is negative")
        }
        guard (1...256).contains(maxBatchSize) else {
            throw Error(description: "max_batch_size \(maxBatchSize) is not between 1 and 256")
        }
        guard (0...1000).contains(maxBatchDelayMilliseconds) else {
            throw Error(description: "max_batch_delay_ms \(maxBatchDelayMilliseconds) is not between 0 and 1000")
        }
        try budgets.validate()
    }

    /// A value given directly or read from a file (a mounted Secret), the file's last newline dropped.
    static func secret(value: String?, file: String?) throws -> String? {
        if let value { return value }
        guard let file else { return nil }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw Error(description: "cannot read \(file)")
        }
        return text.trimmingCharacters(in: .newlines)
    }

    public var dataURL: URL { URL(fileURLWithPath: dataDirectory) }

    /// The server's settings: the listening address, the host and cross-site policies, a queue
    /// limit per route class, security headers, and enough handlers that a batch can fill: a
    /// handler waits, blocked, while its image is in a batch, so fewer handlers than
    /// `inferenceThreads * maxBatchSize` would cap the batches below `maxBatchSize`. Requests
    /// beyond the handlers wait in the queues, bounded by `max_queued_*`.
    var httpServer: HTTPServerConfiguration {
        var server = server
        server.host = listenHost
        server.handlerConcurrency = max(server.handlerConcurrency, inferenceThreads * maxBatchSize)
        server.hostPolicy = HostPolicy(names: allowedHosts)
        server.crossSitePolicy = CrossSitePolicy(allowedOrigins: allowedOrigins)
        server.queueLimits = [
            RouteClass.inference.rawValue: QueueLimit(maxQueued: maxQueuedRequests, setting: "max_queued_requests"),
            RouteClass.reads.rawValue: QueueLimit(maxQueued: maxQueuedReads, setting: "max_queued_reads"),
            RouteClass.writes.rawValue: QueueLimit(maxQueued: maxQueuedWrites, setting: "max_queued_writes"),
            RouteClass.operations.rawValue: QueueLimit(maxQueued: maxQueuedOperations, setting: "max_queued_operations"),
        ]
        server.maxBufferedBodyBytesSetting = "max_buffered_body_bytes"
        server.maxBodyBytesSetting = "max_body_bytes"
        server.maxConnectionsSetting = "max_connections"
        server.defaultResponseFields = SecurityHeaders.fields
        return server
    }
}
