/// Bounds checked against the file size and the header before any pixel buffer is
/// allocated, so a tiny file claiming a huge raster is refused cheaply.
public struct DecodingLimits: Sendable, Equatable {
    public var maxBytes: Int
    public var maxPixels: Int
    public var maxDimension: Int

    public init(maxBytes: Int = 64 << 20, maxPixels: Int = 40_000_000, maxDimension: Int = 65_535) {
        self.maxBytes = maxBytes
        self.maxPixels = maxPixels
        self.maxDimension = maxDimension
    }

    func check(byteCount: Int) throws {
        guard byteCount <= maxBytes else {
            throw ImagingError(.tooLarge, "the file is \(byteCount) bytes; the limit is \(maxBytes)")
        }
    }

    func check(width: Int, height: Int) throws {
        guard width > 0, height > 0 else {
            throw ImagingError(.corrupt, "the header declares an empty \(width)x\(height) image")
        }
        guard width <= maxDimension, height <= maxDimension else {
            throw ImagingError(.tooLarge,
                               "the image is \(width)x\(height); no side may exceed \(maxDimension) pixels")
        }
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, pixels <= maxPixels else {
            throw ImagingError(.tooLarge,
                               "the image is \(width)x\(height) pixels; the limit is \(maxPixels) pixels")
        }
    }
}
