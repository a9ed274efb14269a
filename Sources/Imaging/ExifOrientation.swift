/// The EXIF Orientation tag (0x0112): how the stored raster must be turned to appear
/// upright. Cameras store sensor order and record the turn rather than rotating pixels.
public enum ExifOrientation: Int, Sendable, CaseIterable {
    case up = 1
    case upMirrored = 2
    case down = 3
    case downMirrored = 4
    case leftMirrored = 5
    case right = 6
    case rightMirrored = 7
    case left = 8

    var swapsAxes: Bool { rawValue >= 5 }

    /// Reads the orientation from a TIFF structure (the body of a JPEG APP1 "Exif" segment
    /// or of a PNG eXIf chunk). Anything malformed counts as "no orientation": a broken
    /// tag must not make an otherwise readable photo fail.
    init?(tiff: UnsafeRawBufferPointer) {
        let reader = TIFFReader(tiff)
        guard let value = reader?.ifd0Value(tag: 0x0112), let orientation = ExifOrientation(rawValue: value) else {
            return nil
        }
        self = orientation
    }

    /// Returns the image turned upright, as Pillow's `ImageOps.exif_transpose` does.
    public func apply(to image: Image) -> Image {
        guard self != .up else { return image }
        let (w, h, c) = (image.width, image.height, image.channels)
        let (outWidth, outHeight) = swapsAxes ? (h, w) : (w, h)
        // The source pixel index is linear in the output coordinates: base + x * dx + y * dy.
        let last = (h - 1) * w
        let (base, dx, dy): (Int, Int, Int)
        switch self {
        case .up: (base, dx, dy) = (0, 1, w)
        case .upMirrored: (base, dx, dy) = (w - 1, -1, w)
        case .down: (base, dx, dy) = (last + w - 1, -1, -w)
        case .downMirrored: (base, dx, dy) = (last, 1, -w)
        case .leftMirrored: (base, dx, dy) = (0, w, 1)
        case .right: (base, dx, dy) = (last, -w, 1)
        case .rightMirrored: (base, dx, dy) = (last + w - 1, -w, -1)
        case .left: (base, dx, dy) = (w - 1, w, -1)
        }
        var out = [UInt8](repeating: 0, count: image.pixels.count)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                var o = 0
                for y in 0..<outHeight {
                    var s = base + y * dy
                    for _ in 0..<outWidth {
                        let si = s * c
                        for k in 0..<c { dst[o + k] = src[si + k] }
                        o += c
                        s += dx
                    }
                }
            }
        }
        return Image(unchecked: outWidth, outHeight, c, out)
    }
}

/// Just enough of TIFF to read a short value from the first IFD, with every offset
/// checked against the buffer: the block comes straight from an untrusted upload.
private struct TIFFReader {
    let bytes: UnsafeRawBufferPointer
    let bigEndian: Bool

    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 8 else { return nil }
        switch (bytes[0], bytes[1]) {
        case (0x49, 0x49): bigEndian = false
        case (0x4D, 0x4D): bigEndian = true
        default: return nil
        }
        self.bytes = bytes
        guard u16(at: 2) == 42 else { return nil }
    }

    func u16(at offset: Int) -> Int? {
        guard offset >= 0, offset + 2 <= bytes.count else { return nil }
        let (a, b) = (Int(bytes[offset]), Int(bytes[offset + 1]))
        return bigEndian ? a << 8 | b : b << 8 | a
    }

    func u32(at offset: Int) -> Int? {
        guard let first = u16(at: offset), let second = u16(at: offset + 2) else { return nil }
        return bigEndian ? first << 16 | second : second << 16 | first
    }

    func ifd0Value(tag wanted: Int) -> Int? {
        guard let ifd = u32(at: 4), let count = u16(at: ifd) else { return nil }
        for index in 0..<count {
            let entry = ifd + 2 + index * 12
            guard let tag = u16(at: entry), let type = u16(at: entry + 2) else { return nil }
            guard tag == wanted else { continue }
            switch type {
            case 3: return u16(at: entry + 8)
            case 4: return u32(at: entry + 8)
            default: return nil
            }
        }
        return nil
    }
}
