import Foundation
import HTTPTypes

/// One part of a multipart/form-data body.
public struct MultipartPart: Sendable {
    public var headerFields: HTTPFields
    /// The form field name from Content-Disposition.
    public var name: String?
    /// The file name from Content-Disposition, for file uploads.
    public var filename: String?
    public var contentType: String? { headerFields[.contentType] }
    public var body: Data
}

/// Parses multipart/form-data (RFC 7578 over RFC 2046 section 5.1.1).
///
/// It works on the complete body the server received, so the server's body limit
/// bounds everything it allocates.
public enum MultipartParser {
    public static let maxPartHeaderBytes = 16 * 1024

    /// The parts of a request whose Content-Type is multipart/form-data.
    public static func parse(_ request: HTTPServerRequest, maxParts: Int = 1000) throws -> [MultipartPart] {
        guard let contentType = request.headerFields[.contentType] else {
            throw HTTPError(.unsupportedMediaType, code: "unsupported_media_type", message: "Expected multipart/form-data.")
        }
        return try parse(request.body, boundary: try boundary(fromContentType: contentType), maxParts: maxParts)
    }

    /// The boundary parameter of a multipart/form-data media type.
    public static func boundary(fromContentType contentType: String) throws -> String {
        let parameters = HeaderParameters.parse(contentType)
        guard parameters.value.lowercased() == "multipart/form-data" else {
            throw HTTPError(.unsupportedMediaType, code: "unsupported_media_type", message: "Expected multipart/form-data.")
        }
        guard let boundary = parameters["boundary"], (1...70).contains(boundary.utf8.count),
              boundary.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }), boundary.last != " " else {
            throw invalid("The multipart boundary is missing or malformed.")
        }
        return boundary
    }

    public static func parse(_ body: Data, boundary: String, maxParts: Int = 1000) throws -> [MultipartPart] {
        let dashBoundary = Array("--\(boundary)".utf8)
        let delimiter = [13, 10] + dashBoundary
        return try body.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> [MultipartPart] in
            // The first boundary may open the body or follow a preamble ending in CRLF.
            var position: Int
            if bytes.starts(with: dashBoundary) {
                position = dashBoundary.count
            } else if let found = find(delimiter, in: bytes, from: 0) {
                position = found + delimiter.count
            } else {
                throw invalid("The body contains no multipart boundary.")
            }
            var parts: [MultipartPart] = []
            while true {
                if bytes.count - position >= 2 && bytes[position] == UInt8(ascii: "-") && bytes[position + 1] == UInt8(ascii: "-") {
                    return parts
                }
                while position < bytes.count, ByteClass.isWhitespace(bytes[position]) { position += 1 }
                guard position + 1 < bytes.count, bytes[position] == 13, bytes[position + 1] == 10 else {
                    throw invalid("A multipart boundary is not followed by CRLF.")
                }
                position += 2
                let (fields, bodyStart) = try parseHeaders(bytes, from: position)
                guard let end = find(delimiter, in: bytes, from: bodyStart) else {
                    throw invalid("A multipart part is not terminated by its boundary.")
                }
                parts.append(try makePart(fields, body: Data(bytes[bodyStart..<end])))
                if parts.count > maxParts { throw invalid("The body has more than \(maxParts) parts.") }
                position = end + delimiter.count
            }
        }
    }

    private static func parseHeaders(_ bytes: UnsafeRawBufferPointer, from start: Int) throws -> (HTTPFields, Int) {
        var fields = HTTPFields()
        var position = start
        while true {
            guard let lineEnd = find([13, 10], in: bytes, from: position), lineEnd - start <= maxPartHeaderBytes else {
                throw invalid("A multipart part's header section is unterminated or too large.")
            }
            let line = ArraySlice(bytes[position..<lineEnd])
            position = lineEnd + 2
            if line.isEmpty { return (fields, position) }
            let field: HTTPRequestHead.Field
            do {
                field = try parseFieldLine(line)
            } catch {
                throw invalid("A multipart part has a malformed header field.")
            }
            guard let name = HTTPField.Name(field.name) else { throw invalid("A multipart header name is invalid.") }
            fields.append(HTTPField(name: name, value: field.value))
        }
    }

    private static func makePart(_ fields: HTTPFields, body: Data) throws -> MultipartPart {
        guard let disposition = fields[.contentDisposition] else {
            throw invalid("A multipart part has no Content-Disposition.")
        }
        let parameters = HeaderParameters.parse(disposition)
        guard parameters.value.lowercased() == "form-data" else {
            throw invalid("A multipart part's Content-Disposition is not form-data.")
        }
        return MultipartPart(headerFields: fields, name: parameters["name"], filename: parameters["filename"], body: body)
    }

    /// The first index of `needle` in `haystack` at or after `start`.
    static func find(_ needle: [UInt8], in haystack: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var index = start
        let last = haystack.count - needle.count
        while index <= last {
            guard let base = haystack.baseAddress,
                  let hit = memchr(base + index, Int32(first), last - index + 1) else { return nil }
            let candidate = base.distance(to: UnsafeRawPointer(hit))
            if memcmp(base + candidate, needle, needle.count) == 0 { return candidate }
            index = candidate + 1
        }
        return nil
    }

    private static func invalid(_ message: String) -> HTTPError {
        HTTPError(.badRequest, code: "invalid_multipart", message: message)
    }
}
