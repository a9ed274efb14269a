import Foundation

/// Reads an uploaded JPEG or PNG into an upright 8-bit image, refusing oversized,
/// damaged or unknown files with an `ImagingError` instead of trapping.
public enum ImageDecoder {
    /// - Parameter minimumShorterSide: lets the JPEG decoder scale by 1/2, 1/4 or 1/8 while
    ///   decoding, keeping the shorter side at least this long; useful when the image is
    ///   resized down right afterwards. `nil` decodes at full size, as Pillow does.
    public static func decode(_ bytes: [UInt8], limits: DecodingLimits = DecodingLimits(),
                              minimumShorterSide: Int? = nil) throws -> Image {
        try bytes.withUnsafeBytes { try decode(raw: $0, limits: limits, minimumShorterSide: minimumShorterSide) }
    }

    public static func decode(_ data: Data, limits: DecodingLimits = DecodingLimits(),
                              minimumShorterSide: Int? = nil) throws -> Image {
        try data.withUnsafeBytes { try decode(raw: $0, limits: limits, minimumShorterSide: minimumShorterSide) }
    }

    /// What `decode` with the same arguments would produce and cost, from the headers alone;
    /// throws what `decode` would throw for a file too large for `limits` or not an image.
    public static func plan(_ data: Data, limits: DecodingLimits = DecodingLimits(),
                            minimumShorterSide: Int? = nil) throws -> DecodePlan {
        try data.withUnsafeBytes { try plan(raw: $0, limits: limits, minimumShorterSide: minimumShorterSide) }
    }

    private static func plan(raw bytes: UnsafeRawBufferPointer, limits: DecodingLimits,
                             minimumShorterSide: Int?) throws -> DecodePlan {
        try limits.check(byteCount: bytes.count)
        switch try format(of: bytes) {
        case .jpeg:
            let header = try JPEGDecoder.header(bytes)
            try limits.check(width: Int(header.width), height: Int(header.height))
            return JPEGDecoder.plan(header, minimumShorterSide: minimumShorterSide,
                                    turns: turns(JPEGSegments(bytes: bytes).exifTIFF))
        case .png:
            return try PNGDecoder.plan(bytes, limits: limits, turns: turns(PNGChunks(bytes: bytes).exifTIFF))
        }
    }

    private static func turns(_ exif: UnsafeRawBufferPointer?) -> Bool {
        guard let exif, let orientation = ExifOrientation(tiff: exif) else { return false }
        return orientation != .up
    }

    private static func decode(raw bytes: UnsafeRawBufferPointer, limits: DecodingLimits,
                               minimumShorterSide: Int?) throws -> Image {
        try limits.check(byteCount: bytes.count)
        let image: Image
        let exif: UnsafeRawBufferPointer?
        switch try format(of: bytes) {
        case .jpeg:
            image = try JPEGDecoder.decode(bytes, limits: limits, minimumShorterSide: minimumShorterSide)
            exif = JPEGSegments(bytes: bytes).exifTIFF
        case .png:
            image = try PNGDecoder.decode(bytes, limits: limits)
            exif = PNGChunks(bytes: bytes).exifTIFF
        }
        guard let exif, let orientation = ExifOrientation(tiff: exif) else { return image }
        return orientation.apply(to: image)
    }

    private static func format(of bytes: UnsafeRawBufferPointer) throws -> ImageFormat {
        guard let format = ImageFormat(sniffing: bytes) else {
            throw ImagingError(.unsupportedFormat, bytes.isEmpty
                ? "the body is empty; send a JPEG or PNG image"
                : "the data is not a JPEG or PNG image")
        }
        return format
    }
}
