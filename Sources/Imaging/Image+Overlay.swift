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
        // A loop over every byte of a full-size photo, so it must vectorize: unchecked buffers
        // (both images are RGB of one size, checked above), and no checked float-to-integer
        // conversion. The blend lies in [0, 255], so floor(blend + 0.5) (`rounded()` for
        // non-negative values) is a whole number below 256 that adding 2^23 moves into the
        // low bits of the float's significand, exactly.
        base.withUnsafeBufferPointer { base in
            top.withUnsafeBufferPointer { top in
                out.withUnsafeMutableBufferPointer { out in
                    for i in out.indices {
                        let blend = (1 - alpha) * Float(base[i]) + alpha * Float(top[i])
                        out[i] = UInt8(truncatingIfNeeded: ((blend + 0.5).rounded(.down) + 0x1p23).bitPattern)
                    }
                }
            }
        }
        return Image(unchecked: width, height, 3, out)
    }
}
