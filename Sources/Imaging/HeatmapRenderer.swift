/// Turns a raw saliency map into a picture people can look at: normalize, upsample onto the
/// original image, color, optionally blend over the photo, and encode as PNG.
public struct HeatmapRenderer: Sendable, Equatable {
    public var colormap: Colormap
    public var normalization: Heatmap.Normalization
    /// Opacity of the colored map over the photo; nil renders the map alone.
    public var overlayAlpha: Float?
    public var compressionLevel: Int

    public init(colormap: Colormap = .inferno, normalization: Heatmap.Normalization = .percentile(),
                overlayAlpha: Float? = 0.5, compressionLevel: Int = 6) {
        self.colormap = colormap
        self.normalization = normalization
        self.overlayAlpha = overlayAlpha
        self.compressionLevel = compressionLevel
    }

    /// Renders `map` at the size of `image`. `region` is where the map lies on the image
    /// (see `Preprocessing.inputRegion`); by default it covers the whole image.
    public func render(_ map: Heatmap, on image: Image, region: Preprocessing.Region? = nil) throws -> Image {
        let upsampled = try map.normalized(normalization).resized(width: image.width, height: image.height, region: region)
        let colored = upsampled.colorized(colormap)
        guard let overlayAlpha else { return colored }
        return try image.overlaid(with: colored, alpha: overlayAlpha)
    }

    /// `render` followed by PNG encoding.
    public func renderPNG(_ map: Heatmap, on image: Image, region: Preprocessing.Region? = nil) throws -> [UInt8] {
        try PNGEncoder.encode(render(map, on: image, region: region), compressionLevel: compressionLevel)
    }
}
