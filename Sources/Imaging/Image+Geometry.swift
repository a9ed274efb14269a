/// Resizing and cropping, with the conventions of Pillow and torchvision so that a model
/// sees the framing it was trained on.
extension Image {
    /// Pillow's bilinear (or bicubic) resize with antialiasing when shrinking (see `Resampler`).
    /// RGBA is filtered channel by channel, without Pillow's alpha premultiplication.
    public func resized(width: Int, height: Int, interpolation: Preprocessing.Interpolation = .bilinear) throws -> Image {
        try Self.checkTarget(width, height)
        return Resampler.resize(self, width: width, height: height, filter: interpolation)
    }

    /// torchvision's `Resize(size)` with an integer: the shorter side becomes `size`, the
    /// longer one `int(size * long / short)`.
    public func resized(shorterSide size: Int, interpolation: Preprocessing.Interpolation = .bilinear) throws -> Image {
        try Self.checkTarget(size, size)
        let (width, height) = Self.size(shorterSide: size, width: self.width, height: self.height)
        return try resized(width: width, height: height, interpolation: interpolation)
    }

    /// The region at (x, y) of the given size; parts outside the image are `fill`.
    public func cropped(x: Int, y: Int, width: Int, height: Int, fill: UInt8 = 0) throws -> Image {
        try Self.checkTarget(width, height)
        guard x.magnitude <= 1 << 32, y.magnitude <= 1 << 32 else {
            throw ImagingError(.invalidArgument, "crop origin (\(x), \(y)) is out of range")
        }
        var out = [UInt8](repeating: fill, count: width * height * channels)
        let columns = max(x, 0)..<min(x + width, self.width)
        guard !columns.isEmpty else { return Image(unchecked: width, height, channels, out) }
        let rowBytes = columns.count * channels
        for row in max(y, 0)..<min(y + height, self.height) {
            let from = (row * self.width + columns.lowerBound) * channels
            let to = ((row - y) * width + columns.lowerBound - x) * channels
            out.replaceSubrange(to..<(to + rowBytes), with: pixels[from..<(from + rowBytes)])
        }
        return Image(unchecked: width, height, channels, out)
    }

    /// torchvision's `CenterCrop`: offsets `int(round((size - crop) / 2))` with Python's
    /// round-half-to-even, and zero padding when the crop is larger than the image.
    public func centerCropped(width: Int, height: Int) throws -> Image {
        let origin = Self.centerCropOrigin(width: width, height: height, imageWidth: self.width, imageHeight: self.height)
        return try cropped(x: origin.x, y: origin.y, width: width, height: height)
    }

    /// Scales the image to fit inside width x height keeping its aspect ratio and pads the
    /// rest with `fill`, centring the picture.
    public func letterboxed(width: Int, height: Int, fill: UInt8 = 0) throws -> Image {
        try Self.checkTarget(width, height)
        let frame = Self.letterboxFrame(width: width, height: height, imageWidth: self.width, imageHeight: self.height)
        let scaled = try resized(width: frame.width, height: frame.height)
        return try scaled.cropped(x: -frame.x, y: -frame.y, width: width, height: height, fill: fill)
    }

    static func size(shorterSide size: Int, width: Int, height: Int) -> (width: Int, height: Int) {
        if width <= height {
            return (size, Int(Double(size) * Double(height) / Double(width)))
        }
        return (Int(Double(size) * Double(width) / Double(height)), size)
    }

    static func centerCropOrigin(width: Int, height: Int, imageWidth: Int, imageHeight: Int) -> (x: Int, y: Int) {
        // torchvision pads (crop - size) // 2 on the leading side first, then crops the centre.
        let padLeft = max(width - imageWidth, 0) / 2
        let padTop = max(height - imageHeight, 0) / 2
        let paddedWidth = imageWidth + max(width - imageWidth, 0)
        let paddedHeight = imageHeight + max(height - imageHeight, 0)
        return (roundHalfToEven(paddedWidth - width) - padLeft, roundHalfToEven(paddedHeight - height) - padTop)
    }

    static func letterboxFrame(width: Int, height: Int, imageWidth: Int, imageHeight: Int)
        -> (x: Int, y: Int, width: Int, height: Int) {
        let scale = min(Double(width) / Double(imageWidth), Double(height) / Double(imageHeight))
        let scaledWidth = min(max(Int((Double(imageWidth) * scale).rounded()), 1), width)
        let scaledHeight = min(max(Int((Double(imageHeight) * scale).rounded()), 1), height)
        return ((width - scaledWidth) / 2, (height - scaledHeight) / 2, scaledWidth, scaledHeight)
    }

    /// `round(n / 2)` as Python 3 rounds: halves go to the even neighbour.
    private static func roundHalfToEven(_ n: Int) -> Int {
        let half = n / 2
        return n % 2 != 0 && half % 2 != 0 ? half + 1 : half
    }

    static func checkTarget(_ width: Int, _ height: Int) throws {
        guard width > 0, height > 0, width <= 65_535, height <= 65_535 else {
            throw ImagingError(.invalidArgument, "target size \(width)x\(height) must be 1 to 65535 pixels a side")
        }
    }
}
