import Foundation
import HTTPTypes

/// What a handler returns: a head and either the whole body or a producer that
/// writes the body over time.
public struct HTTPServerResponse: Sendable {
    public enum Body: Sendable {
        case bytes(Data)
        /// Called once, off the handler pool, with a writer that stays usable from
        /// any thread until `finish()` or until the client goes away.
        case stream(@Sendable (ResponseBodyWriter) -> Void)
        /// A stream of exactly `length` bytes, sent with Content-Length; a
        /// producer that writes more or fewer gets its connection closed.
        case sizedStream(length: Int, @Sendable (ResponseBodyWriter) -> Void)
    }

    public var head: HTTPResponse
    public var body: Body

    public init(status: HTTPResponse.Status = .ok, headerFields: HTTPFields = [:], body: Data = Data()) {
        self.head = HTTPResponse(status: status, headerFields: headerFields)
        self.body = .bytes(body)
    }

    public init(head: HTTPResponse, body: Body) {
        self.head = head
        self.body = body
    }

    public var status: HTTPResponse.Status { head.status }

    public static func text(_ text: String, status: HTTPResponse.Status = .ok,
                            contentType: String = "text/plain; charset=utf-8") -> HTTPServerResponse {
        var fields = HTTPFields()
        fields[.contentType] = contentType
        return HTTPServerResponse(status: status, headerFields: fields, body: Data(text.utf8))
    }

    public static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok,
                                          encoder: JSONEncoder = JSONEncoder()) throws -> HTTPServerResponse {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        return HTTPServerResponse(status: status, headerFields: fields, body: try encoder.encode(value))
    }

    /// A body produced over time: with a known `length` it is sent with
    /// Content-Length, otherwise chunked to HTTP/1.1 clients.
    public static func stream(status: HTTPResponse.Status = .ok, headerFields: HTTPFields = [:], length: Int? = nil,
                              _ producer: @escaping @Sendable (ResponseBodyWriter) -> Void) -> HTTPServerResponse {
        let head = HTTPResponse(status: status, headerFields: headerFields)
        guard let length else { return HTTPServerResponse(head: head, body: .stream(producer)) }
        return HTTPServerResponse(head: head, body: .sizedStream(length: length, producer))
    }

    /// A `text/event-stream` response; the producer sends events with `writer.send(_:)`.
    public static func serverSentEvents(_ producer: @escaping @Sendable (ResponseBodyWriter) -> Void) -> HTTPServerResponse {
        var fields = HTTPFields()
        fields[.contentType] = "text/event-stream"
        fields[.cacheControl] = "no-cache"
        return stream(headerFields: fields, producer)
    }
}
