/// Bounds checked against the file size and the header before any pixel buffer is
/// allocated, so a tiny file claiming a huge raster is refused cheaply.
public struct DecodingLimits: Sendable, Equatable {
    public enum Limit: Sendable, Hashable {
        case bytes, pixels, dimension
    }

    public var maxBytes: Int
    public var maxPixels: Int
    public var maxDimension: Int
    /// What each limit is called where an operator sets it (a configuration key), so that a
    /// refusal can say which setting to change.
    public var settingNames: [Limit: String]

    public init(maxBytes: Int = 64 << 20, maxPixels: Int = 40_000_000, maxDimension: Int = 65_535,
                settingNames: [Limit: String] = [:]) {
        self.maxBytes = maxBytes
        self.maxPixels = maxPixels
        self.maxDimension = maxDimension
        self.settingNames = settingNames
    }

    func check(byteCount: Int) throws {
        guard byteCount <= maxBytes else {
            throw ImagingError(.tooLarge, "the file is \(byteCount) bytes; the limit is \(maxBytes)\(named(.bytes))")
        }
    }

    func check(width: Int, height: Int) throws {
        guard width > 0, height > 0 else {
            throw ImagingError(.corrupt, "the header declares an empty \(width)x\(height) image")
        }
        guard width <= maxDimension, height <= maxDimension else {
            throw ImagingError(.tooLarge,
                               "the image is \(width)x\(height); no side may exceed \(maxDimension) pixels\(named(.dimension))")
        }
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, pixels <= maxPixels else {
            throw ImagingError(.tooLarge,
                               "the image is \(width)x\(height) pixels; the limit is \(maxPixels) pixels\(named(.pixels))")
        }
    }

    private func named(_ limit: Limit) -> String {
        settingNames[limit].map { " (setting \($0))" } ?? ""
    }
}
