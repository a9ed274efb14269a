import Foundation
import HTTPTypes

/// Turns a handler's response into bytes on the wire for one particular request:
/// framing, persistence, HEAD, and content coding are decided here.
struct ResponseWriter {
    /// What the server knows about the request a response answers.
    struct Context: Sendable {
        var isHead: Bool
        var minorVersion: Int
        var keepAlive: Bool
        var acceptsGzip: Bool
    }

    enum Framing: Equatable {
        case length
        case chunked
        /// HTTP/1.0 clients get a streamed body delimited by closing the connection.
        case untilClose
    }

    struct Prepared {
        var head: [UInt8]
        /// The body to send after the head; empty for HEAD and bodiless statuses.
        var body: Data
        var framing: Framing
        /// The Content-Length a streamed body must match.
        var contentLength: Int?
        var keepAlive: Bool
        var producer: (@Sendable (ResponseBodyWriter) -> Void)?
    }

    /// Fields the server owns; a handler's values for them are replaced.
    private static let connectionFields: Set<HTTPField.Name> = [.contentLength, .transferEncoding, .connection, .date]

    let compressionEnabled: Bool
    let compressionMinimumBytes: Int
    /// Fields every response carries unless its handler set them.
    var defaultFields = HTTPFields()

    func prepare(_ response: HTTPServerResponse, for context: Context, date: String) -> Prepared {
        var fields = HTTPFields(response.head.headerFields.filter { !Self.connectionFields.contains($0.name) })
        for field in defaultFields where fields[field.name] == nil { fields.append(field) }
        let status = response.head.status
        let bodyless = status.code == 204 || status.code == 304 || (100..<200).contains(status.code)
        var keepAlive = context.keepAlive
        var body = Data()
        var framing = Framing.length
        var producer: (@Sendable (ResponseBodyWriter) -> Void)?
        var contentLength: Int?

        if response.head.headerFields[.connection].map(listElements)?.contains("close") == true {
            keepAlive = false
        }
        switch response.body {
        case .bytes(let data):
            contentLength = bodyless ? nil : data.count
            body = context.isHead || bodyless ? Data() : data
        case .stream(let streamProducer):
            if !bodyless && !context.isHead {
                producer = streamProducer
                framing = context.minorVersion >= 1 ? .chunked : .untilClose
                if framing == .untilClose { keepAlive = false }
            }
        case .sizedStream(let length, let streamProducer):
            contentLength = bodyless ? nil : length
            if !bodyless && !context.isHead && length > 0 { producer = streamProducer }
        }

        var head = "HTTP/1.1 \(status.code) \(status.statusLinePhrase)\r\n"
        for field in fields {
            head += "\(field.name.rawName): \(field.value)\r\n"
        }
        head += "Date: \(date)\r\n"
        if let contentLength {
            head += "Content-Length: \(contentLength)\r\n"
        } else if framing == .chunked {
            head += "Transfer-Encoding: chunked\r\n"
        }
        if !keepAlive {
            head += "Connection: close\r\n"
        } else if context.minorVersion == 0 {
            head += "Connection: keep-alive\r\n"
        }
        head += "\r\n"
        return Prepared(head: Array(head.utf8), body: body, framing: framing, contentLength: contentLength,
                        keepAlive: keepAlive, producer: producer)
    }

    /// The response with a gzipped body when the client accepts gzip and the
    /// body is compressible, large enough, and actually shrinks.
    func compressIfUseful(_ response: HTTPServerResponse, for context: Context) -> HTTPServerResponse {
        var fields = response.head.headerFields
        guard compressionEnabled, context.acceptsGzip, case .bytes(let data) = response.body,
              data.count >= compressionMinimumBytes, fields[.contentEncoding] == nil,
              Gzip.isCompressible(contentType: fields[.contentType]),
              let compressed = Gzip.compress(data), compressed.count < data.count else { return response }
        fields[.contentEncoding] = "gzip"
        fields.append(HTTPField(name: .vary, value: "Accept-Encoding"))
        // The encoded representation differs, so a strong validator must too.
        if let etag = fields[.eTag], etag.hasSuffix("\"") {
            fields[.eTag] = String(etag.dropLast()) + "-gzip\""
        }
        return HTTPServerResponse(head: HTTPResponse(status: response.head.status, headerFields: fields), body: .bytes(compressed))
    }

    /// One chunk of a chunked body.
    static func chunk(_ data: Data) -> Data {
        var framed = Data(String(data.count, radix: 16).utf8)
        framed.append(contentsOf: [13, 10])
        framed.append(data)
        framed.append(contentsOf: [13, 10])
        return framed
    }

    static let lastChunk = Data("0\r\n\r\n".utf8)
}
