/// Walks PNG chunks for what libpng's simplified API reads too late or not at all.
struct PNGChunks {
    let bytes: UnsafeRawBufferPointer

    /// The size declared by IHDR, which the PNG specification requires to be the first chunk.
    /// libpng reads every chunk up to the image data before reporting it, so limits are
    /// checked from here first.
    var declaredSize: (width: Int, height: Int)? {
        guard bytes.count >= 24, (12..<16).map({ bytes[$0] }) == Array("IHDR".utf8) else { return nil }
        return (u32(at: 16), u32(at: 20))
    }

    /// Samples per pixel the decoder gives (see `PNGDecoder`): gray or RGB, plus alpha when the
    /// color type has it or a tRNS chunk adds it.
    var decodedChannels: Int? {
        guard bytes.count >= 26 else { return nil }
        let colorType = bytes[25]
        let color = colorType & 2 != 0
        let alpha = colorType & 4 != 0 || chunks.contains { $0.type == Array("tRNS".utf8) }
        return (color ? 3 : 1) + (alpha ? 1 : 0)
    }

    /// The TIFF body of the eXIf chunk, wherever it sits (Pillow reads it before or after IDAT).
    var exifTIFF: UnsafeRawBufferPointer? {
        guard let chunk = chunks.first(where: { $0.type == Array("eXIf".utf8) }) else { return nil }
        var body = UnsafeRawBufferPointer(rebasing: bytes[(chunk.range.lowerBound + 8)..<(chunk.range.upperBound - 4)])
        // Some writers keep the JPEG APP1 "Exif\0\0" prefix in the chunk.
        if body.starts(with: [0x45, 0x78, 0x69, 0x66, 0x00, 0x00]) {
            body = UnsafeRawBufferPointer(rebasing: body[6...])
        }
        return body
    }

    var hasGamma: Bool { chunks.contains { $0.type == Array("gAMA".utf8) } }

    /// The file without its gAMA chunk, or nil when it has none. The simplified API converts
    /// pixels from the declared gamma to sRGB; Pillow, and so every model trained through it,
    /// reads the stored values as they are.
    var withoutGamma: [UInt8]? {
        guard let gamma = chunks.first(where: { $0.type == Array("gAMA".utf8) }) else { return nil }
        return Array(bytes[..<gamma.range.lowerBound]) + bytes[gamma.range.upperBound...]
    }

    /// Every complete chunk: its type and its bytes from the length field to the CRC.
    private var chunks: [(type: [UInt8], range: Range<Int>)] {
        var found: [(type: [UInt8], range: Range<Int>)] = []
        var offset = 8
        while offset + 12 <= bytes.count {
            let end = offset + 12 + u32(at: offset)
            guard end <= bytes.count else { break }
            let type = (4..<8).map { bytes[offset + $0] }
            found.append((type, offset..<end))
            if type == Array("IEND".utf8) { break }
            offset = end
        }
        return found
    }

    private func u32(at offset: Int) -> Int {
        (0..<4).reduce(0) { $0 << 8 | Int(bytes[offset + $1]) }
    }
}
