/// Bounds on what an uploaded archive may unpack to, so that a small upload cannot fill the
/// disk or memory (a zip bomb). The service sets them from `max_dataset_files`, four times
/// `max_upload_bytes` and `max_image_bytes`, which its refusals name.
public struct ArchiveLimits: Sendable {
    public var maxEntries: Int
    public var maxTotalBytes: Int
    public var maxEntryBytes: Int

    public init(maxEntries: Int = 20_000, maxTotalBytes: Int = 1 << 30, maxEntryBytes: Int = 32 << 20) {
        self.maxEntries = maxEntries
        self.maxTotalBytes = maxTotalBytes
        self.maxEntryBytes = maxEntryBytes
    }
}

/// Why an archive was refused.
public struct ArchiveError: Error, CustomStringConvertible {
    public enum Kind: Sendable {
        /// Not a ZIP file, or a kind of ZIP this reader does not take (ZIP64, encryption).
        case unsupported
        case corrupt
        /// A path that would leave the dataset folder, or a symbolic link.
        case unsafePath
        /// More entries or bytes than the limits allow.
        case tooLarge
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
