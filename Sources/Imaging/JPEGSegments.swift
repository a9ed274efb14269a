/// Walks the marker segments of a JPEG header, where metadata lives. TurboJPEG decodes
/// pixels but does not expose APP segments, so the EXIF block is located here.
struct JPEGSegments {
    let bytes: UnsafeRawBufferPointer

    /// The TIFF body of the first APP1 "Exif" segment before the first scan, if any.
    var exifTIFF: UnsafeRawBufferPointer? {
        let exifHeader: [UInt8] = [0x45, 0x78, 0x69, 0x66, 0x00, 0x00]  // "Exif\0\0"
        var offset = 2
        while offset + 4 <= bytes.count {
            guard bytes[offset] == 0xFF else { return nil }
            let marker = bytes[offset + 1]
            if marker == 0xFF {
                offset += 1  // fill byte
                continue
            }
            // Standalone markers carry no length; SOS starts entropy-coded data, past which
            // no header metadata follows.
            if marker == 0xD8 || marker == 0x01 || (0xD0...0xD7).contains(marker) {
                offset += 2
                continue
            }
            if marker == 0xDA || marker == 0xD9 { return nil }
            let length = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            let bodyStart = offset + 4
            let bodyEnd = offset + 2 + length
            guard length >= 2, bodyEnd <= bytes.count else { return nil }
            if marker == 0xE1, length - 2 >= exifHeader.count,
               exifHeader.indices.allSatisfy({ bytes[bodyStart + $0] == exifHeader[$0] }) {
                return UnsafeRawBufferPointer(rebasing: bytes[(bodyStart + exifHeader.count)..<bodyEnd])
            }
            offset = bodyEnd
        }
        return nil
    }

    /// Whether an end-of-image marker follows the last start-of-scan. Entropy-coded data
    /// stuffs every 0xFF with 0x00, so these byte pairs are real markers wherever they occur;
    /// an EOI earlier than the last SOS can only belong to an embedded thumbnail.
    var endsAfterLastScan: Bool {
        var index = bytes.count - 2
        while index >= 0 {
            if bytes[index] == 0xFF {
                switch bytes[index + 1] {
                case 0xD9: return true
                case 0xDA: return false
                default: break
                }
            }
            index -= 1
        }
        return false
    }
}
