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

    private static func decode(raw bytes: UnsafeRawBufferPointer, limits: DecodingLimits,
                               minimumShorterSide: Int?) throws -> Image {
        try limits.check(byteCount: bytes.count)
        guard let format = ImageFormat(sniffing: bytes) else {
            throw ImagingError(.unsupportedFormat, bytes.isEmpty
                ? "the body is empty; send a JPEG or PNG image"
                : "the data is not a JPEG or PNG image")
        }
        let image: Image
        let exif: UnsafeRawBufferPointer?
        switch format {
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
}
