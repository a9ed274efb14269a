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

    private func u32(at offset: Int) -> Int {
        (0..<4).reduce(0) { $0 << 8 | Int(bytes[offset + $1]) }
    }

    /// The TIFF body of the eXIf chunk, wherever it sits (Pillow reads it before or after IDAT).
    var exifTIFF: UnsafeRawBufferPointer? {
        var offset = 8
        while offset + 8 <= bytes.count {
            let length = u32(at: offset)
            let dataStart = offset + 8
            guard dataStart + length <= bytes.count else { return nil }
            let type = (4..<8).map { bytes[offset + $0] }
            if type == Array("eXIf".utf8) {
                var body = UnsafeRawBufferPointer(rebasing: bytes[dataStart..<(dataStart + length)])
                // Some writers keep the JPEG APP1 "Exif\0\0" prefix in the chunk.
                if body.starts(with: [0x45, 0x78, 0x69, 0x66, 0x00, 0x00]) {
                    body = UnsafeRawBufferPointer(rebasing: body[6...])
                }
                return body
            }
            if type == Array("IEND".utf8) { return nil }
            offset = dataStart + length + 4
        }
        return nil
    }
}
