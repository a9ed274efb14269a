import CZlib
import Foundation

/// A ZIP archive read from memory through its central directory, entry by entry, with
/// every path checked and every byte counted.
///
/// The project's own reader rather than ZIPFoundation: ZIPFoundation ships a module named
/// `CZlib`, which collides with this package's zlib shim of the same name.
struct ZipArchive {
    struct Entry {
        /// The path's components, already checked: none is empty, ".", ".." or absolute.
        let components: [String]
        let isDirectory: Bool
        let method: UInt16
        let crc32: UInt32
        let compressedSize: Int
        let uncompressedSize: Int
        let localHeaderOffset: Int
    }

    let entries: [Entry]
    /// The archive as uploaded, not copied: an upload may be hundreds of megabytes.
    private let bytes: Data
    private let limits: ArchiveLimits

    static func isZip(_ data: Data) -> Bool {
        data.starts(with: [0x50, 0x4B, 0x03, 0x04]) || data.starts(with: [0x50, 0x4B, 0x05, 0x06])
    }

    /// Reads the central directory and refuses the archive as a whole when any entry is
    /// unsafe, or when the declared sizes already exceed the limits.
    init(_ data: Data, limits: ArchiveLimits) throws {
        // Indexed from 0 below; a request body always is, a slice would be copied once.
        bytes = data.startIndex == 0 ? data : Data(data)
        self.limits = limits
        guard let end = ZipArchive.endOfCentralDirectory(bytes) else {
            throw ArchiveError(.unsupported, "the body is not a ZIP archive")
        }
        let count = Int(ZipArchive.u16(bytes, end + 10))
        let directoryOffset = Int(ZipArchive.u32(bytes, end + 16))
        guard count != 0xFFFF, directoryOffset != 0xFFFF_FFFF else {
            throw ArchiveError(.unsupported, "ZIP64 archives are not accepted")
        }
        guard count <= limits.maxEntries else {
            throw ArchiveError(.tooLarge, "the archive has \(count) entries; at most \(limits.maxEntries) are allowed (max_dataset_files)")
        }
        var entries: [Entry] = []
        var offset = directoryOffset
        var declaredTotal = 0
        for _ in 0..<count {
            guard offset + 46 <= bytes.count, ZipArchive.u32(bytes, offset) == 0x0201_4B50 else {
                throw ArchiveError(.corrupt, "the ZIP central directory is truncated or corrupt")
            }
            let madeBy = ZipArchive.u16(bytes, offset + 4)
            let flags = ZipArchive.u16(bytes, offset + 8)
            let method = ZipArchive.u16(bytes, offset + 10)
            let crc = ZipArchive.u32(bytes, offset + 16)
            let compressed = Int(ZipArchive.u32(bytes, offset + 20))
            let uncompressed = Int(ZipArchive.u32(bytes, offset + 24))
            let nameLength = Int(ZipArchive.u16(bytes, offset + 28))
            let extraLength = Int(ZipArchive.u16(bytes, offset + 30))
            let commentLength = Int(ZipArchive.u16(bytes, offset + 32))
            let externalAttributes = ZipArchive.u32(bytes, offset + 38)
            let localOffset = Int(ZipArchive.u32(bytes, offset + 42))
            guard offset + 46 + nameLength <= bytes.count else {
                throw ArchiveError(.corrupt, "the ZIP central directory is truncated")
            }
            let name = String(decoding: bytes[(offset + 46)..<(offset + 46 + nameLength)], as: UTF8.self)
            offset += 46 + nameLength + extraLength + commentLength
            guard compressed != 0xFFFF_FFFF, uncompressed != 0xFFFF_FFFF, localOffset != 0xFFFF_FFFF else {
                throw ArchiveError(.unsupported, "ZIP64 entries are not accepted ('\(name)')")
            }
            guard flags & 1 == 0 else { throw ArchiveError(.unsupported, "encrypted entries are not accepted ('\(name)')") }
            // Unix-made archives keep the file mode in the high half of the external attributes.
            let mode = externalAttributes >> 16
            if madeBy >> 8 == 3, mode & 0o170000 == 0o120000 {
                throw ArchiveError(.unsafePath, "'\(name)' is a symbolic link; links are not accepted")
            }
            let components = try ZipArchive.checkedComponents(name)
            let isDirectory = name.hasSuffix("/")
            guard isDirectory || uncompressed <= limits.maxEntryBytes else {
                throw ArchiveError(.tooLarge, "'\(name)' unpacks to \(uncompressed) bytes; at most \(limits.maxEntryBytes) per file (max_image_bytes)")
            }
            declaredTotal += uncompressed
            guard declaredTotal <= limits.maxTotalBytes else {
                throw ArchiveError(.tooLarge, "the archive unpacks to more than \(limits.maxTotalBytes) bytes "
                    + "(four times max_upload_bytes)")
            }
            entries.append(Entry(components: components, isDirectory: isDirectory, method: method, crc32: crc,
                                 compressedSize: compressed, uncompressedSize: uncompressed, localHeaderOffset: localOffset))
        }
        self.entries = entries
    }

    /// An entry's bytes; inflation stops as soon as it produces more than the entry declared.
    func contents(of entry: Entry) throws -> Data {
        let name = entry.components.joined(separator: "/")
        let header = entry.localHeaderOffset
        guard header + 30 <= bytes.count, ZipArchive.u32(bytes, header) == 0x0403_4B50 else {
            throw ArchiveError(.corrupt, "the local header of '\(name)' is missing")
        }
        let start = header + 30 + Int(ZipArchive.u16(bytes, header + 26)) + Int(ZipArchive.u16(bytes, header + 28))
        guard start + entry.compressedSize <= bytes.count else {
            throw ArchiveError(.corrupt, "'\(name)' is truncated")
        }
        let output: [UInt8]
        switch entry.method {
        case 0:
            guard entry.compressedSize == entry.uncompressedSize else {
                throw ArchiveError(.corrupt, "stored entry '\(name)' has different sizes")
            }
            output = [UInt8](bytes[start..<(start + entry.compressedSize)])
        case 8:
            output = try inflate(start: start, count: entry.compressedSize, limit: entry.uncompressedSize, name: name)
        default:
            throw ArchiveError(.unsupported, "'\(name)' uses compression method \(entry.method); only stored and deflate are accepted")
        }
        let crc = output.withUnsafeBufferPointer { UInt32(CZlib.crc32(0, $0.baseAddress, uInt($0.count))) }
        guard crc == entry.crc32 else { throw ArchiveError(.corrupt, "'\(name)' fails its CRC-32 check") }
        return Data(output)
    }

    private func inflate(start: Int, count: Int, limit: Int, name: String) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ArchiveError(.corrupt, "zlib could not start")
        }
        defer { inflateEnd(&stream) }
        // One byte more than declared, so that a lying size shows up as overflow.
        var output = [UInt8](repeating: 0, count: limit + 1)
        var status: Int32 = Z_OK
        var produced = 0
        bytes.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: UInt8.self) + start)
                stream.avail_in = uInt(count)
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                repeat { status = CZlib.inflate(&stream, Z_NO_FLUSH) } while status == Z_OK && stream.avail_out > 0
                produced = out.count - Int(stream.avail_out)
            }
        }
        guard produced <= limit else {
            throw ArchiveError(.tooLarge, "'\(name)' inflates to more bytes than its declared \(limit)")
        }
        guard status == Z_STREAM_END else { throw ArchiveError(.corrupt, "'\(name)' is not a valid deflate stream") }
        return Array(output.prefix(produced))
    }

    /// The components of an entry name, refusing any that could leave the target folder.
    static func checkedComponents(_ name: String) throws -> [String] {
        let unsafe = name.hasPrefix("/") || name.contains("\\") || name.contains("\0")
            || (name.count >= 2 && name.dropFirst().first == ":")
        let components = name.split(separator: "/").map(String.init).filter { $0 != "." }
        guard !unsafe, !components.contains("..") else {
            throw ArchiveError(.unsafePath, "'\(name)' would be written outside the dataset folder")
        }
        return components
    }

    private static func endOfCentralDirectory(_ bytes: Data) -> Int? {
        guard bytes.count >= 22 else { return nil }
        let lowest = max(0, bytes.count - 22 - 0xFFFF)
        for offset in stride(from: bytes.count - 22, through: lowest, by: -1) where u32(bytes, offset) == 0x0605_4B50 {
            return offset
        }
        return nil
    }

    private static func u16(_ b: Data, _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }

    private static func u32(_ b: Data, _ o: Int) -> UInt32 {
        UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
    }
}
