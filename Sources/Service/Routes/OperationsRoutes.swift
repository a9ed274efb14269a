import Foundation
import HTTPServer
import HTTPTypes

/// Health, readiness, metrics and the API description.
struct OperationsRoutes {
    let registry: ModelRegistry
    let metrics: ServiceMetrics
    let configuration: ServiceConfiguration
    let openAPI: Data

    func register(on router: Router) {
        router.add(.get, "/healthz", lane: .quick) { _ in try .json(["status": "ok"]) }
        router.add(.get, "/readyz", lane: .quick) { _ in
            let count = registry.all.count
            guard registry.defaultModel != nil else {
                return try .json(["status": "not ready: the default model is not loaded"], status: .serviceUnavailable)
            }
            return try .json(Readiness(status: "ready", models: count))
        }
        // Quick, so scrapes are answered while classifications queue on the main pool.
        router.add(.get, "/metrics", lane: .quick) { _ in
            .text(metrics.prometheusText(models: registry.all), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("/openapi.json", lane: .quick) { [openAPI] _ in
            HTTPServerResponse(status: .ok, headerFields: [.contentType: "application/json"], body: openAPI)
        }
    }

    struct Readiness: Codable {
        var status: String
        var models: Int
    }
}
