import ArgumentParser
import Foundation
import Logging
import Service

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the HTTP service (configuration: defaults, config/salient.json, SALIENT_* variables, then these flags).")

    @Option(help: "A configuration file (default: config/salient.json when present).") var config: String?
    @Option(help: "Address to listen on (default: 127.0.0.1, or 0.0.0.0 when a token is set).") var host: String?
    @Option(help: "Port to listen on.") var port: Int?
    @Option(name: .customLong("data-dir"), help: "Where models, datasets, jobs and maps live.") var dataDirectory: String?
    @Option(name: .customLong("public-dir"), help: "The web UI folder.") var publicDirectory: String?
    @Option(help: "Management token: routes that change state need 'Authorization: Bearer <token>'.") var token: String?
    @Option(name: .customLong("token-file"), help: "Read the management token from this file (a mounted secret).") var tokenFile: String?
    @Option(name: .customLong("read-token"), help: "Inference token: reads (classify, saliency, listings, metrics) need it or the management token.") var readToken: String?
    @Option(name: .customLong("read-token-file"), help: "Read the inference token from this file.") var readTokenFile: String?
    @Flag(name: .customLong("insecure-open"), help: "Listen beyond 127.0.0.1 with no token: anyone who can reach the port may upload, delete and train.") var insecureOpen = false
    @Option(name: .customLong("database-url"), help: "PostgreSQL shared by replicas (postgresql://user@host:port/db); default: SQLite in the data folder.") var databaseURL: String?
    @Option(name: .customLong("replica-name"), help: "This replica's name in the job queue (default: host name and process id).") var replicaName: String?
    @Option(help: "Concurrent inference computations.") var threads: Int?
    @Option(name: .customLong("max-batch-size"), help: "Most images one batched classification runs (1: no batching).") var maxBatchSize: Int?
    @Option(name: .customLong("max-batch-delay-ms"), help: "Longest wait for a batch to fill, in milliseconds.") var maxBatchDelay: Double?

    func run() throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var configuration = try ServiceConfiguration.load(file: config)
        if let host { configuration.host = host }
        if let port { configuration.server.port = port }
        if let dataDirectory { configuration.dataDirectory = dataDirectory }
        if let publicDirectory { configuration.publicDirectory = publicDirectory }
        if let token = try ServiceConfiguration.token(value: token, file: tokenFile, settings: ("--token", "--token-file")) {
            configuration.apiToken = token
        }
        if let token = try ServiceConfiguration.token(value: readToken, file: readTokenFile,
                                                      settings: ("--read-token", "--read-token-file")) {
            configuration.readToken = token
        }
        if insecureOpen { configuration.insecureOpen = true }
        if let databaseURL { configuration.databaseURL = databaseURL }
        if let replicaName { configuration.replicaName = replicaName }
        if let threads { configuration.inferenceThreads = threads }
        if let maxBatchSize { configuration.maxBatchSize = maxBatchSize }
        if let maxBatchDelay { configuration.maxBatchDelayMilliseconds = maxBatchDelay }
        try configuration.validate()
        let service = try SalientService(configuration: configuration)
        try service.run()
    }
}
