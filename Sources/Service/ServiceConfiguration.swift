import Foundation
import HTTPServer

/// What an operator configures. Built from the embedded defaults, then `config/salient.json`
/// (or the file named by `SALIENT_CONFIG`), then environment variables, then flags; each
/// layer overrides the one before. Every key is documented in config/README.md.
public struct ServiceConfiguration: Sendable {
    public var server = HTTPServerConfiguration()
    public var dataDirectory = "data"
    public var publicDirectory = "public"
    public var defaultModel = "fashion-cnn"
    /// When set, routes that change state need `Authorization: Bearer <token>`.
    public var apiToken: String?
    /// Also require the token for reads.
    public var protectReads = false
    /// Inference or saliency computations that run at once; more requests wait (queue depth).
    public var inferenceThreads = 2
    /// Threads one computation splits across (`EngineThreads`); 1 favours throughput under load.
    public var engineThreads = 1
    public var maxImagePixels = 40_000_000
    public var maxImageBytes = 32 << 20
    public var maxUploadBytes = 512 << 20
    public var saliencyCacheEntries = 256
    /// Requests waiting for an inference slot beyond this many are answered 503.
    public var maxQueuedRequests = 256
    /// Classifications of one model that arriving together run as one batch of up to this
    /// many images; 1 turns batching off.
    public var maxBatchSize = 8
    /// The longest a batch waits for requests still being decoded, from its oldest request's
    /// arrival; a request that comes alone never waits.
    public var maxBatchDelayMilliseconds = 2.0
    public var jobWorkers = 1
    public var trainingThreads = 1
    /// What one request, one upload and the data folder may cost (`ResourceBudgets`).
    public var budgets = ResourceBudgets()

    public init() {}

    /// Keys of config/salient.json, as they appear in the file.
    private struct File: Decodable {
        var host: String?
        var port: Int?
        var data_directory: String?
        var public_directory: String?
        var default_model: String?
        var api_token: String?
        var protect_reads: Bool?
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
        var max_batch_size: Int?
        var max_batch_delay_ms: Double?
        var job_workers: Int?
        var training_threads: Int?
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
        if let v = f.host { server.host = v }
        if let v = f.port { server.port = v }
        if let v = f.data_directory { dataDirectory = v }
        if let v = f.public_directory { publicDirectory = v }
        if let v = f.default_model { defaultModel = v }
        if let v = f.api_token, !v.isEmpty { apiToken = v }
        if let v = f.protect_reads { protectReads = v }
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
        if let v = f.max_batch_size { maxBatchSize = v }
        if let v = f.max_batch_delay_ms { maxBatchDelayMilliseconds = v }
        if let v = f.job_workers { jobWorkers = v }
        if let v = f.training_threads { trainingThreads = v }
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
        if let v = environment["SALIENT_HOST"] { server.host = v }
        if let v = environment["SALIENT_DATA_DIR"] { dataDirectory = v }
        if let v = environment["SALIENT_PUBLIC_DIR"] { publicDirectory = v }
        if let v = environment["SALIENT_DEFAULT_MODEL"] { defaultModel = v }
        if let v = environment["SALIENT_API_TOKEN"], !v.isEmpty { apiToken = v }
        if let v = try int("SALIENT_THREADS") { inferenceThreads = v }
        if let v = try int("SALIENT_ENGINE_THREADS") { engineThreads = v }
        if let v = try int("SALIENT_JOB_WORKERS") { jobWorkers = v }
        if let v = try int("SALIENT_TRAINING_THREADS") { trainingThreads = v }
        if let v = try int("SALIENT_MAX_BATCH_SIZE") { maxBatchSize = v }
        if let text = environment["SALIENT_MAX_BATCH_DELAY_MS"] {
            guard let v = Double(text) else { throw Error(description: "SALIENT_MAX_BATCH_DELAY_MS=\(text) is not a number") }
            maxBatchDelayMilliseconds = v
        }
        try validate()
    }

    public func validate() throws {
        guard (0...65535).contains(server.port) else { throw Error(description: "port \(server.port) is out of range") }
        guard inferenceThreads >= 1, engineThreads >= 1, jobWorkers >= 0, trainingThreads >= 1 else {
            throw Error(description: "thread counts and the batch size must be positive")
        }
        guard (1...256).contains(maxBatchSize) else {
            throw Error(description: "max_batch_size \(maxBatchSize) is not between 1 and 256")
        }
        guard (0...1000).contains(maxBatchDelayMilliseconds) else {
            throw Error(description: "max_batch_delay_ms \(maxBatchDelayMilliseconds) is not between 0 and 1000")
        }
        try budgets.validate()
    }

    public var dataURL: URL { URL(fileURLWithPath: dataDirectory) }

    /// The server's settings, with enough handlers that a batch can fill: a handler waits,
    /// blocked, while its image is in a batch, so fewer handlers than
    /// `inferenceThreads * maxBatchSize` would cap the batches below `maxBatchSize`.
    var serverForBatching: HTTPServerConfiguration {
        var server = server
        server.handlerConcurrency = max(server.handlerConcurrency, inferenceThreads * maxBatchSize)
        return server
    }
}
