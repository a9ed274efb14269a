/// Why an image could not be read, resized or written. `kind` is what a caller maps to a
/// response status; `message` is meant for the person who sent the file.
public struct ImagingError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The bytes are not a format the decoders read (HTTP 415).
        case unsupportedFormat
        /// The image exceeds the configured limits (HTTP 422).
        case tooLarge
        /// The bytes claim to be a supported format but are damaged or truncated (HTTP 400).
        case corrupt
        /// A caller passed arguments no image could satisfy, such as a zero target size.
        case invalidArgument
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
