import ArgumentParser
import Foundation
import Logging
import Service

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the HTTP service (configuration: defaults, config/salient.json, SALIENT_* variables, then these flags).")

    @Option(help: "A configuration file (default: config/salient.json when present).") var config: String?
    @Option(help: "Address to listen on.") var host: String?
    @Option(help: "Port to listen on.") var port: Int?
    @Option(name: .customLong("data-dir"), help: "Where models, datasets, jobs and maps live.") var dataDirectory: String?
    @Option(name: .customLong("public-dir"), help: "The web UI folder.") var publicDirectory: String?
    @Option(help: "Bearer token required by routes that change state.") var token: String?
    @Option(help: "Concurrent inference computations.") var threads: Int?
    @Option(name: .customLong("max-batch-size"), help: "Most images one batched classification runs (1: no batching).") var maxBatchSize: Int?
    @Option(name: .customLong("max-batch-delay-ms"), help: "Longest wait for a batch to fill, in milliseconds.") var maxBatchDelay: Double?

    func run() throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var configuration = try ServiceConfiguration.load(file: config)
        if let host { configuration.server.host = host }
        if let port { configuration.server.port = port }
        if let dataDirectory { configuration.dataDirectory = dataDirectory }
        if let publicDirectory { configuration.publicDirectory = publicDirectory }
        if let token { configuration.apiToken = token }
        if let threads { configuration.inferenceThreads = threads }
        if let maxBatchSize { configuration.maxBatchSize = maxBatchSize }
        if let maxBatchDelay { configuration.maxBatchDelayMilliseconds = maxBatchDelay }
        try configuration.validate()
        let service = try SalientService(configuration: configuration)
        try service.run()
    }
}
