import Foundation
import HTTPServer
import HTTPTypes

/// Classification and saliency over HTTP.
struct InferenceRoutes {
    let registry: ModelRegistry
    let classifier: Classifier
    let saliency: SaliencyService
    let cache: SaliencyCache
    let metrics: ServiceMetrics

    func register(on router: GuardedRouter) {
        router.inference("/v1/models/:name/classify", bodies: .images) { request in
            try classify(request, model: registry.model(named: request.parameter("name"), version: request.queryValue("version")))
        }
        router.inference("/v1/classify", bodies: .images) { request in
            guard let model = registry.defaultModel else { throw ServiceError.notFound("the default model is not loaded") }
            return try classify(request, model: model)
        }
        router.inference("/v1/models/:name/saliency", bodies: .images) { request in
            let model = try registry.model(named: request.parameter("name"), version: request.queryValue("version"))
            let options = try SaliencyRequest(request, budgets: classifier.images.budgets)
            guard let image = try RequestImages.extract(request).first else { throw ServiceError.badParameter("no image") }
            try classifier.images.checkRequest([image])
            let started = DispatchTime.now()
            let several = options.isSeveral(labels: model.labels), grid = several && !options.asJSON
            var explanation = try saliency.explain(image, model: model, request: options, grid: grid)
            metrics.recordInference(model: model.name, kind: "saliency", seconds: seconds(since: started))
            for (k, png) in explanation.maps.enumerated() { explanation.results[k].pngURL = "/v1/saliency/\(try cache.store(png)).png" }
            if options.asJSON { return several ? try .json(explanation.results) : try .json(explanation.results[0]) }
            let results = explanation.results
            guard let png = grid ? explanation.grid : explanation.maps.first else {
                throw ServiceError.badParameter("normalize=none needs scale= to draw a PNG")
            }
            var fields = HTTPFields()
            fields[.contentType] = "image/png"
            // One user's photo under the map: no shared cache may keep it.
            fields[.cacheControl] = "no-store"
            fields[HTTPField.Name("X-Saliency-Url")!] = grid ? "/v1/saliency/\(try cache.store(png)).png" : results[0].pngURL
            // Several classes: one entry per map, in the grid's order (left to right, then down).
            fields[HTTPField.Name("X-Saliency-Class")!] = results.map { "\($0.class.index)" }.joined(separator: ",")
            let fidelity = results.compactMap { $0.fidelity?.header }
            if !fidelity.isEmpty { fields[HTTPField.Name("X-Saliency-Fidelity")!] = fidelity.joined(separator: ", ") }
            if let sanity = results[0].sanity { fields[HTTPField.Name("X-Saliency-Sanity")!] = sanity.header }
            return HTTPServerResponse(status: .ok, headerFields: fields, body: Data(png))
        }
        router.inference("/v1/models/:name/saliency/sanity", bodies: .images) { request in
            let model = try registry.model(named: request.parameter("name"), version: request.queryValue("version"))
            let check = try SanityRequest(request, budgets: classifier.images.budgets)
            guard let image = try RequestImages.extract(request).first else { throw ServiceError.badParameter("no image") }
            try classifier.images.checkRequest([image])
            let started = DispatchTime.now()
            let answer = try saliency.sanityCheck(image, model: model, request: check)
            metrics.recordInference(model: model.name, kind: "sanity", seconds: seconds(since: started))
            return try .json(answer)
        }
        router.get("/v1/saliency/:id.png") { request in
            guard let png = cache.png(id: try request.parameter("id")) else {
                throw ServiceError.notFound("no saliency map with that id (maps are kept in a bounded cache)")
            }
            var fields = HTTPFields()
            fields[.contentType] = "image/png"
            // The map shows one user's photo: browsers may keep it (its id never changes content),
            // shared caches and proxies may not.
            fields[.cacheControl] = "private, max-age=86400, immutable"
            return HTTPServerResponse(status: .ok, headerFields: fields, body: png)
        }
    }

    private func classify(_ request: HTTPServerRequest, model: LoadedModel) throws -> HTTPServerResponse {
        let topK = try request.intQuery("top_k", default: 5, range: 1...1000)
        let images = try RequestImages.extract(request)
        try classifier.images.checkRequest(images)
        let results = try images.map { image in
            let started = DispatchTime.now()
            let result = try classifier.classify(image, model: model, topK: topK)
            metrics.recordInference(model: model.name, kind: "classify", seconds: seconds(since: started))
            return result
        }
        let isMultipart = (request.headerFields[.contentType] ?? "").lowercased().hasPrefix("multipart/")
        return isMultipart && results.count > 1 ? try .json(results) : try .json(results[0])
    }
}

func seconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
}
