/// What decoding an image will give and cost, known from its headers alone, so that a caller
/// can budget memory before a single pixel buffer exists.
public struct DecodePlan: Sendable, Equatable {
    public let format: ImageFormat
    /// The size the headers declare (before EXIF orientation).
    public let declaredWidth: Int
    public let declaredHeight: Int
    /// The raster the decoder produces: the declared size, or a JPEG's DCT-scaled size.
    public let width: Int
    public let height: Int
    public let channels: Int
    /// Memory the decoder holds beside its output: a progressive JPEG's coefficients, a CMYK
    /// raster before conversion, a PNG copied without its gAMA chunk.
    public let workingBytes: Int
    /// Whether an EXIF orientation turns the raster after decoding (a second raster, briefly).
    public let turns: Bool
    /// The JPEG DCT scaling denominator (1, 2, 4 or 8); 1 for PNG.
    let reduction: Int

    public var declaredPixels: Int { declaredWidth * declaredHeight }

    public var outputBytes: Int { width * height * channels }

    /// The most the decode holds at once: its working memory beside the output, or the output
    /// twice while an EXIF orientation turns it.
    public var peakBytes: Int { max(workingBytes + outputBytes, turns ? 2 * outputBytes : 0) }
}
