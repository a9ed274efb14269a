import Foundation

/// The OpenAPI 3 description of every route, served at /openapi.json. It is a resource,
/// `Resources/openapi.json`, and the source of truth: tests hold it to the routes the router
/// registers and to the code's enums, so a route or parameter added without it fails them.
enum OpenAPIDocument {
    struct Missing: Error, CustomStringConvertible {
        var description: String { "openapi.json is missing from the service's resource bundle" }
    }

    static func load() throws -> Data {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json") else { throw Missing() }
        return try Data(contentsOf: url)
    }
}
