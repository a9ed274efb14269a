import Foundation
import HTTPServer

/// Uploading, listing and deleting training datasets.
struct DatasetRoutes {
    let store: DatasetStore
    let configuration: ServiceConfiguration

    struct Listing: Encodable {
        var datasets: [Dataset]
    }

    /// What POST answers: the listing entry without its creation time.
    struct Created: Encodable {
        var id: String
        var classes: [String]
        var counts: [String: Int]
        var skipped: Int
    }

    func register(on router: GuardedRouter) {
        router.post("/v1/datasets", bodies: .zip, bodyLimit: (configuration.maxUploadBytes, "max_upload_bytes")) { request in
            let dataset = try store.create(archive: request.body)
            return try .json(Created(id: dataset.id, classes: dataset.classes, counts: dataset.counts, skipped: dataset.skipped),
                             status: .created)
        }
        router.get("/v1/datasets") { _ in
            try .json(Listing(datasets: store.all()), encoder: StoredJSON.encoder)
        }
        router.delete("/v1/datasets/:id") { request in
            try store.remove(request.parameter("id"))
            return HTTPServerResponse(status: .noContent)
        }
    }
}

extension AcceptedBodyTypes {
    /// A ZIP archive as the body (Windows browsers call it application/x-zip-compressed). It
    /// announces its format in its first bytes, so clients that are not browsers may leave the type out.
    static let zip = AcceptedBodyTypes(["application/zip", "application/x-zip-compressed", "application/octet-stream"],
                                       untypedFromNonBrowsers: true)
}
