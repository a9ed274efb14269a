/// A decoded raster: 8-bit samples, rows top to bottom, channels interleaved
/// (1 = gray, 2 = gray + alpha, 3 = RGB, 4 = RGBA).
public struct Image: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let channels: Int
    public let pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0 else {
            throw ImagingError(.invalidArgument, "image dimensions must be positive, got \(width)x\(height)")
        }
        guard (1...4).contains(channels) else {
            throw ImagingError(.invalidArgument, "an image has 1 to 4 channels, got \(channels)")
        }
        let (count, countOverflow) = width.multipliedReportingOverflow(by: height)
        let (samples, samplesOverflow) = count.multipliedReportingOverflow(by: channels)
        guard !countOverflow, !samplesOverflow, samples == pixels.count else {
            throw ImagingError(.invalidArgument,
                               "a \(width)x\(height) image with \(channels) channels cannot hold \(pixels.count) samples")
        }
        self.init(unchecked: width, height, channels, pixels)
    }

    /// For pixel buffers whose size the module has just computed itself.
    init(unchecked width: Int, _ height: Int, _ channels: Int, _ pixels: [UInt8]) {
        assert(width * height * channels == pixels.count)
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    public var hasAlpha: Bool { channels == 2 || channels == 4 }
}
