import CZlib

/// PNG files written chunk by chunk, for attacks no encoder produces: fewer rows than the header
/// declares, bytes after the end chunk, tens of megapixels in a small file.
public enum HostilePNG {
    /// An 8-bit RGB file of `width` x `height` whose image data holds only `rows` rows
    /// (all of them by default), each a gradient from `value`, followed by `trailing`. The data
    /// is deflated, or kept in stored blocks when `compressed` is false.
    public static func rgb(width: Int, height: Int, rows: Int? = nil, value: UInt8 = 128,
                           trailing: [UInt8] = [], compressed: Bool = false) -> [UInt8] {
        var row = [UInt8](repeating: 0, count: 1 + width * 3)  // filter type 0
        for x in 0..<width { row[1 + x * 3] = value &+ UInt8(truncatingIfNeeded: x); row[2 + x * 3] = value; row[3 + x * 3] = value }
        var raw: [UInt8] = []
        raw.reserveCapacity(row.count * (rows ?? height))
        for _ in 0..<(rows ?? height) { raw += row }
        let header = bigEndian(width, bytes: 4) + bigEndian(height, bytes: 4) + [8, 2, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header)
            + chunk("IDAT", compressed ? zlibDeflated(raw) : zlibStored(raw)) + chunk("IEND", []) + trailing
    }

    static func zlibDeflated(_ data: [UInt8]) -> [UInt8] {
        var length = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        let status = out.withUnsafeMutableBufferPointer { dst in
            data.withUnsafeBufferPointer { compress2(dst.baseAddress, &length, $0.baseAddress, uLong(data.count), 6) }
        }
        precondition(status == Z_OK, "zlib could not compress")
        return Array(out.prefix(Int(length)))
    }

    public static func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
        let typed = Array(type.utf8) + body
        return bigEndian(body.count, bytes: 4) + typed + bigEndian(Int(crc32(typed)), bytes: 4)
    }

    /// A zlib stream of stored blocks (at most 65535 bytes each) and its Adler-32.
    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let count = min(65535, data.count - offset)
            let final: UInt8 = offset + count == data.count ? 1 : 0
            out += [final, UInt8(count & 0xFF), UInt8(count >> 8), UInt8(~count & 0xFF), UInt8((~count >> 8) & 0xFF)]
            out += data[offset..<(offset + count)]
            offset += count
        } while offset < data.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in data {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        return out + bigEndian(Int(b << 16 | a), bytes: 4)
    }
}
