extension Image {
    /// Blends `layer` over this image: `(1 - alpha) * image + alpha * layer`, rounded, in RGB.
    /// Both must have the same size; gray or alpha images are converted as Pillow's
    /// `convert("RGB")` does first.
    public func overlaid(with layer: Image, alpha: Float = 0.5) throws -> Image {
        guard layer.width == width, layer.height == height else {
            throw ImagingError(.invalidArgument,
                               "cannot overlay a \(layer.width)x\(layer.height) layer on a \(width)x\(height) image")
        }
        guard (0...1).contains(alpha) else {
            throw ImagingError(.invalidArgument, "overlay alpha must be in [0, 1], got \(alpha)")
        }
        let base = ColorConversion.rgb(self).pixels
        let top = ColorConversion.rgb(layer).pixels
        var out = [UInt8](repeating: 0, count: base.count)
        for i in out.indices {
            out[i] = UInt8(((1 - alpha) * Float(base[i]) + alpha * Float(top[i])).rounded())
        }
        return Image(unchecked: width, height, 3, out)
    }
}
