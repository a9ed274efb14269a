import CZlib

/// Writes 8-bit gray, gray + alpha, RGB or RGBA PNGs. The chunks are assembled here and the
/// scanlines deflated with zlib directly, because libpng's simplified write API cannot set
/// the compression level and its full API reports errors by longjmp, which Swift cannot
/// survive.
public enum PNGEncoder {
    /// - Parameter compressionLevel: zlib's 0 (store, fastest) to 9 (smallest).
    public static func encode(_ image: Image, compressionLevel: Int = 6) throws -> [UInt8] {
        guard (0...9).contains(compressionLevel) else {
            throw ImagingError(.invalidArgument, "PNG compression level must be 0 to 9, got \(compressionLevel)")
        }
        let colorType: UInt8 = switch image.channels {
        case 1: 0
        case 2: 4
        case 3: 2
        default: 6
        }
        var header: [UInt8] = []
        header.appendBigEndian(UInt32(image.width))
        header.appendBigEndian(UInt32(image.height))
        header += [8, colorType, 0, 0, 0]

        let filtered = compressionLevel == 0 ? unfiltered(image) : ScanlineFilter.apply(to: image)
        let compressed = try deflate(filtered, level: Int32(compressionLevel))

        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        appendChunk("IHDR", header, to: &png)
        let chunkLimit = 1 << 24
        for start in stride(from: 0, to: compressed.count, by: chunkLimit) {
            appendChunk("IDAT", compressed[start..<min(start + chunkLimit, compressed.count)], to: &png)
        }
        appendChunk("IEND", [], to: &png)
        return png
    }

    private static func unfiltered(_ image: Image) -> [UInt8] {
        let rowLength = image.width * image.channels
        var out: [UInt8] = []
        out.reserveCapacity((rowLength + 1) * image.height)
        for y in 0..<image.height {
            out.append(0)
            out += image.pixels[(y * rowLength)..<((y + 1) * rowLength)]
        }
        return out
    }

    private static func deflate(_ data: [UInt8], level: Int32) throws -> [UInt8] {
        var length = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        let status = out.withUnsafeMutableBufferPointer { dst in
            data.withUnsafeBufferPointer { src in
                compress2(dst.baseAddress, &length, src.baseAddress, uLong(data.count), level)
            }
        }
        guard status == Z_OK else {
            throw ImagingError(.invalidArgument, "zlib could not compress the image (status \(status))")
        }
        out.removeSubrange(Int(length)...)
        return out
    }

    private static func appendChunk(_ type: String, _ data: some Collection<UInt8>, to png: inout [UInt8]) {
        png.appendBigEndian(UInt32(data.count))
        let start = png.count
        png += Array(type.utf8)
        png += data
        let crc = png[start...].withContiguousStorageIfAvailable { body in
            crc32(0, body.baseAddress, uInt(body.count))
        }!
        png.appendBigEndian(UInt32(crc))
    }
}

extension [UInt8] {
    fileprivate mutating func appendBigEndian(_ value: UInt32) {
        append(contentsOf: [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) })
    }
}
