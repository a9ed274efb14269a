import Foundation

extension DecodingError {
    /// Where in the document the problem is and what it is, in the words of the JSON a client
    /// wrote rather than Swift's types: `resize.width must be a whole number`,
    /// `inputs[0].shape is missing`.
    public var problem: String {
        switch self {
        case let .keyNotFound(key, context):
            return "\(Self.path(context.codingPath + [key])) is missing"
        case let .typeMismatch(type, context):
            return "\(Self.path(context.codingPath)) must be \(Self.kind(type))"
        case let .valueNotFound(type, context):
            return "\(Self.path(context.codingPath)) must be \(Self.kind(type)), not null"
        case let .dataCorrupted(context):
            guard !context.codingPath.isEmpty else { return "the JSON is malformed" }
            return "\(Self.path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(self)"
        }
    }

    /// `inputs[0].shape`; "the document" for the top level.
    static func path(_ keys: [CodingKey]) -> String {
        var path = ""
        for key in keys {
            if let index = key.intValue {
                path += "[\(index)]"
            } else {
                path += path.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return path.isEmpty ? "the document" : path
    }

    private static func kind(_ type: Any.Type) -> String {
        switch type {
        case is any BinaryInteger.Type: return "a whole number"
        case is any BinaryFloatingPoint.Type, is Decimal.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") || name.hasPrefix("[") { return "a list" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "a JSON object"
        }
    }
}
