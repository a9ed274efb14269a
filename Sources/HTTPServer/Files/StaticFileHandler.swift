#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import HTTPTypes

/// Serves files below one folder with content types and ETag revalidation.
///
/// No request can reach outside the folder: decoded ".." segments are refused,
/// and the resolved path (symlinks followed) must still lie inside the folder's
/// own resolved path.
public struct StaticFileHandler: Sendable {
    /// The folder, with symlinks resolved.
    public let root: String
    public var indexFile = "index.html"

    public init(root: String) throws {
        guard let resolved = realpath(root, nil) else {
            throw HTTPError(.internalServerError, code: "static_root_missing", message: "No folder at \(root).")
        }
        defer { free(resolved) }
        self.root = String(cString: resolved)
    }

    /// A handler for a route such as `GET /*path`: it serves the wildcard named
    /// `path`, or the whole request path when the route has none.
    public var handler: HTTPHandler {
        { request in try respond(to: request, relativePath: request.pathParameters["path"] ?? Self.decodedPath(request.path)) }
    }

    public func respond(to request: HTTPServerRequest, relativePath: String) throws -> HTTPServerResponse {
        guard let file = resolve(relativePath) else {
            throw HTTPError(.notFound, code: "not_found", message: "No file at \(request.path).")
        }
        var info = stat()
        guard stat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw HTTPError(.notFound, code: "not_found", message: "No file at \(request.path).")
        }
        let modifiedNanoseconds = Int(info.st_mtim.tv_sec) * 1_000_000_000 + Int(info.st_mtim.tv_nsec)
        let etag = "\"\(String(Int(info.st_size), radix: 16))-\(String(modifiedNanoseconds, radix: 16))\""
        var fields = HTTPFields()
        fields[.eTag] = etag
        fields[.cacheControl] = "no-cache"
        var seconds = info.st_mtim.tv_sec
        fields[.lastModified] = HTTPDate.format(&seconds)
        if let condition = request.headerFields[.ifNoneMatch], Self.matches(condition, etag: etag) {
            return HTTPServerResponse(status: .notModified, headerFields: fields)
        }
        fields[.contentType] = MediaType.forFile(file)
        guard let handle = FileHandle(forReadingAtPath: file) else {
            throw HTTPError(.forbidden, code: "unreadable", message: "The file cannot be read.")
        }
        let size = Int(info.st_size)
        if size <= Self.inMemoryLimit {
            defer { try? handle.close() }
            return HTTPServerResponse(status: .ok, headerFields: fields, body: handle.readDataToEndOfFile())
        }
        // Large files go out piece by piece, paced by the client, instead of through memory.
        return .stream(headerFields: fields, length: size) { writer in
            defer { try? handle.close() }
            var remaining = size
            while remaining > 0 {
                let piece = handle.readData(ofLength: min(remaining, Self.pieceBytes))
                guard !piece.isEmpty, writer.write(piece) else { break }
                remaining -= piece.count
            }
            writer.finish()
        }
    }

    /// Files up to this size are read whole, which also lets them be compressed.
    static let inMemoryLimit = 4 * 1024 * 1024
    static let pieceBytes = 256 * 1024

    /// The absolute file for a decoded relative path, or nil when it does not
    /// exist or would leave the root.
    func resolve(_ relativePath: String) -> String? {
        var components: [Substring] = []
        for component in relativePath.split(separator: "/") {
            if component == "." { continue }
            guard component != "..", !component.contains("\0") else { return nil }
            components.append(component)
        }
        var candidate = ([root] + components.map(String.init)).joined(separator: "/")
        var info = stat()
        if stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            candidate += "/" + indexFile
        }
        guard let resolved = realpath(candidate, nil) else { return nil }
        defer { free(resolved) }
        let path = String(cString: resolved)
        return path.hasPrefix(root == "/" ? "/" : root + "/") ? path : nil
    }

    /// If-None-Match holds `*` or an entity tag equal to `etag` by weak
    /// comparison; the gzip variant of a tag matches too.
    static func matches(_ condition: String, etag: String) -> Bool {
        let bare = etag.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        for candidate in condition.split(separator: ",") {
            var tag = candidate.trimmingCharacters(in: .whitespaces)
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            tag = tag.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            if tag == bare || tag == bare + "-gzip" { return true }
        }
        return false
    }

    private static func decodedPath(_ path: String) -> String {
        PercentEncoding.decode(path) ?? ""
    }
}
