import Foundation
import HTTPServer
import HTTPTypes

/// Health, readiness, metrics and the API description.
struct OperationsRoutes {
    let registry: ModelRegistry
    let metrics: ServiceMetrics
    let configuration: ServiceConfiguration
    let openAPI: Data
    /// With a shared database: not ready until the registry is in line with the other replicas.
    let synchronizer: ReplicaSynchronizer?

    /// On the quick lane, so that probes and scrapes are answered while classifications queue on
    /// the main pool. Health and readiness stay open for probes; metrics are a read.
    func register(on router: GuardedRouter) {
        router.operation("/healthz") { _ in try .json(["status": "ok"]) }
        router.operation("/readyz") { [synchronizer] _ in
            if let synchronizer, !synchronizer.hasSynchronized {
                return try .json(["status": "not ready: the registry is not yet in sync with the shared database"],
                                 status: .serviceUnavailable)
            }
            let count = registry.all.count
            guard registry.defaultModel != nil else {
                return try .json(["status": "not ready: the default model is not loaded"], status: .serviceUnavailable)
            }
            return try .json(Readiness(status: "ready", models: count))
        }
        router.operation("/metrics", isRead: true) { _ in
            .text(metrics.prometheusText(models: registry.all), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.operation("/openapi.json") { [openAPI] _ in
            HTTPServerResponse(status: .ok, headerFields: [.contentType: "application/json"], body: openAPI)
        }
    }

    struct Readiness: Codable {
        var status: String
        var models: Int
    }
}
