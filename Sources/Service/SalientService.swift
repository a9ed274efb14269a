import CNN
import Foundation
import HTTPServer
import Logging

/// The whole service: registry, inference, saliency and routes on one HTTP server.
public final class SalientService: Sendable {
    public let configuration: ServiceConfiguration
    let registry: ModelRegistry
    let metrics: ServiceMetrics
    let server: HTTPServer
    private let router: Router
    let jobWorker: JobWorker
    /// Where the registry index, datasets' metadata and the job queue are kept.
    let stores: Stores
    /// LISTEN/NOTIFY and reconciliation with the other replicas, when the database is shared.
    let synchronizer: ReplicaSynchronizer?
    /// Memory all images in flight may hold (`max_image_memory_bytes`).
    let imageMemory: ImageMemory
    private let trimmer = HeapTrimmer()
    private let logger: Logger

    /// The service's version, as `GET /v2` reports it.
    public static let version = "0.1.0"

    /// The models bundled with the binary (the default `fashion-cnn`).
    public static var bundledModels: URL? {
        Bundle.module.url(forResource: "models", withExtension: nil)
    }

    public init(configuration: ServiceConfiguration, logger: Logger = Logger(label: "salient")) throws {
        self.configuration = configuration
        self.logger = logger
        try configuration.checkExposure()
        EngineThreads.set(configuration.engineThreads)
        imageMemory = ImageMemory(capacity: configuration.budgets.maxImageMemoryBytes)
        stores = try Stores(configuration: configuration, logger: logger)
        registry = ModelRegistry(configuration: configuration, logger: logger, index: stores.models)
        try registry.start(bundledModels: SalientService.bundledModels)

        router = Router()
        let routes = GuardedRouter(router: router, reads: Authorization(tokens: configuration.readTokens),
                                   writes: Authorization(tokens: configuration.writeTokens))
        let classifier = Classifier(configuration: configuration, memory: imageMemory)
        let cache = try SaliencyCache(directory: configuration.dataURL.appendingPathComponent("saliency"),
                                      capacity: configuration.saliencyCacheEntries,
                                      capacityBytes: configuration.budgets.saliencyCacheBytes)
        metrics = ServiceMetrics(imageMemory: imageMemory, saliencyCache: cache)
        ModelRoutes(registry: registry, configuration: configuration).register(on: routes)
        let saliency = SaliencyService(classifier: classifier, maxBatchBytes: configuration.budgets.maxSaliencyBatchBytes)
        InferenceRoutes(registry: registry, classifier: classifier, saliency: saliency, cache: cache, metrics: metrics)
            .register(on: routes)
        KServeV1Routes(registry: registry, images: classifier.images, saliency: saliency, cache: cache,
                       configuration: configuration, metrics: metrics)
            .register(on: routes)
        OpenInferenceRoutes(registry: registry, images: classifier.images, configuration: configuration, metrics: metrics)
            .register(on: routes)
        RepositoryRoutes(registry: registry).register(on: routes)
        // The Open Inference Protocol's clients read an error as {"error": "<message>"}.
        router.setErrorFormat(.message, forPathsUnder: "/v2")
        let datasets = DatasetStore(index: stores.datasets,
                                    limits: ArchiveLimits(maxEntries: configuration.budgets.maxDatasetFiles,
                                                          maxTotalBytes: 4 * configuration.maxUploadBytes,
                                                          maxEntryBytes: configuration.maxImageBytes),
                                    images: classifier.images, budgets: configuration.budgets)
        DatasetRoutes(store: datasets, configuration: configuration).register(on: routes)
        let jobs = stores.jobs
        let events = JobEvents()
        let worker = JobWorker(store: jobs, events: events,
                               runner: JobRunner(registry: registry, datasets: datasets, limits: classifier.limits,
                                                 maxTrainingSetBytes: configuration.budgets.maxTrainingSetBytes,
                                                 jobsRoot: configuration.dataURL.appendingPathComponent("jobs")),
                               workers: configuration.jobWorkers, name: configuration.replicaName,
                               leaseSeconds: configuration.jobLeaseSeconds, logger: logger)
        jobWorker = worker
        let relay = stores.database.map { _ in JobEventRelay(store: jobs, events: events, isRunningHere: worker.isRunningHere) }
        JobRoutes(store: jobs, worker: worker, events: events, relay: relay, registry: registry, datasets: datasets,
                  budgets: configuration.budgets, maxQueuedJobs: configuration.maxQueuedJobs,
                  retryAfterSeconds: configuration.server.retryAfterSeconds).register(on: routes)
        if let database = stores.database, let relay {
            synchronizer = ReplicaSynchronizer(database: database, registry: registry, relay: relay, worker: worker,
                                               interval: configuration.reconcileSeconds, logger: logger)
        } else {
            synchronizer = nil
        }
        OperationsRoutes(registry: registry, metrics: metrics, configuration: configuration, openAPI: try OpenAPIDocument.load(),
                         synchronizer: synchronizer)
            .register(on: routes)
        if FileManager.default.fileExists(atPath: configuration.publicDirectory) {
            routes.operation("/*path", try StaticFileHandler(root: configuration.publicDirectory).handler)
        } else {
            logger.warning("no web UI folder", metadata: ["path": "\(configuration.publicDirectory)"])
        }
        server = HTTPServer(configuration: configuration.httpServer, router: router, logger: logger, observer: metrics.http)
        metrics.observe(server)
    }

    public var port: Int? { server.port }

    /// Every route the service registered: what /openapi.json must describe.
    public var routes: [Router.Registration] { router.registrations }

    /// Starts serving and the job workers, which resume any job a stop interrupted.
    public func start() throws {
        trimmer.start()
        synchronizer?.start()
        try server.start()
        logExposure()
        try jobWorker.start()
    }

    /// Stops the job workers (a running job stays resumable), then the server.
    public func shutdown(grace: Double = 5) {
        jobWorker.shutdown()
        synchronizer?.stop()
        server.shutdown(grace: grace)
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully.
    public func run() throws {
        trimmer.start()
        synchronizer?.start()
        defer { synchronizer?.stop() }
        try jobWorker.start()
        defer { jobWorker.shutdown() }
        try server.start()
        logExposure()
        try server.run()
    }

    /// Says at start what the service exposes, loudly when it is open beyond this machine.
    private func logExposure() {
        let (warnings, notes) = configuration.exposureSummary(port: server.port ?? configuration.server.port)
        for line in notes { logger.notice("\(line)") }
        for line in warnings { logger.warning("\(line)") }
    }
}
