import Foundation
import HTTPServer

/// The images of a request: the whole body, or every file part of a multipart form.
enum RequestImages {
    static func extract(_ request: HTTPServerRequest) throws -> [Data] {
        let contentType = request.headerFields[.contentType] ?? ""
        guard contentType.lowercased().hasPrefix("multipart/form-data") else {
            guard !request.body.isEmpty else {
                throw ServiceError.unsupportedMediaType("the body is empty; send a JPEG or PNG image")
            }
            return [request.body]
        }
        let parts = try MultipartParser.parse(request).filter { $0.filename != nil || $0.name == "image" || $0.name == "file" }
        guard !parts.isEmpty else {
            throw ServiceError.badParameter("the form has no file part; send the image as a file field")
        }
        return parts.map(\.body)
    }
}

extension HTTPServerRequest {
    func intQuery(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = queryValue(name) else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw ServiceError.badParameter("\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }
}
