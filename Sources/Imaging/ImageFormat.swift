/// The container formats the decoders read, told apart by their leading bytes rather than a
/// file name or a Content-Type, which clients routinely get wrong.
public enum ImageFormat: String, Sendable {
    case jpeg
    case png

    public init?(sniffing bytes: some Collection<UInt8>) {
        let head = Array(bytes.prefix(8))
        if head.starts(with: [0xFF, 0xD8, 0xFF]) {
            self = .jpeg
        } else if head == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] {
            self = .png
        } else {
            return nil
        }
    }
}
