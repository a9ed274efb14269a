import Foundation
import HTTPTypes

/// A complete request as a handler sees it: the head as an `HTTPRequest`, the
/// whole body, and what routing extracted from the path.
public struct HTTPServerRequest: Sendable {
    public var head: HTTPRequest
    public var body: Data
    /// The path of the request target, still percent-encoded, without the query.
    public var path: String
    /// The query component without the leading '?', or nil when there is none.
    public var query: String?
    /// Values of the pattern's `:name` and `*name` segments, percent-decoded.
    public var pathParameters: [String: String]
    /// The pattern of the route that matched, such as "/v1/models/:name".
    public var route: String?
    public var remoteAddress: String

    public init(head: HTTPRequest, body: Data = Data(), path: String, query: String? = nil,
                pathParameters: [String: String] = [:], route: String? = nil, remoteAddress: String = "") {
        self.head = head
        self.body = body
        self.path = path
        self.query = query
        self.pathParameters = pathParameters
        self.route = route
        self.remoteAddress = remoteAddress
    }

    public var method: HTTPRequest.Method { head.method }
    public var headerFields: HTTPFields { head.headerFields }

    /// The query's name/value pairs in order, with '+' read as a space.
    public var queryItems: [(name: String, value: String)] {
        guard let query else { return [] }
        return query.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = PercentEncoding.decode(parts[0], plusAsSpace: true) else { return nil }
            let value = parts.count > 1 ? PercentEncoding.decode(parts[1], plusAsSpace: true) : ""
            return value.map { (name, $0) }
        }
    }

    /// The first value of the query parameter `name`.
    public func queryValue(_ name: String) -> String? {
        queryItems.first { $0.name == name }?.value
    }

    /// The body decoded as JSON; malformed JSON is a 400 `invalid_json` error.
    public func decode<T: Decodable>(_ type: T.Type, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        do {
            return try decoder.decode(type, from: body)
        } catch let error as DecodingError {
            throw HTTPError(.badRequest, code: "invalid_json", message: "The body is not the expected JSON: \(error.problem)")
        } catch {
            throw HTTPError(.badRequest, code: "invalid_json", message: "The body is not the expected JSON: \(error)")
        }
    }

    /// A path parameter, or a 400 error naming it when the route has none by that name.
    public func parameter(_ name: String) throws -> String {
        guard let value = pathParameters[name] else {
            throw HTTPError(.badRequest, code: "missing_parameter", message: "Missing path parameter '\(name)'.")
        }
        return value
    }
}
