/// How a model's input is made from an upright decoded image. Stored in each model card so
/// the service always feeds a model the way it was trained. Steps run in a fixed order:
/// color conversion, inversion, resize, center crop, then `(value * scale - mean) / std`
/// per channel into a planar NCHW tensor of batch 1.
public struct Preprocessing: Codable, Sendable, Equatable {
    public enum Color: String, Codable, Sendable, CaseIterable {
        /// Pillow's `convert("RGB")`.
        case rgb
        /// Pillow's `convert("L")` (ITU-R 601-2 luma).
        case grayscale
    }

    public enum Inversion: String, Codable, Sendable, CaseIterable {
        case never
        case always
        /// Inverts when the image border is lighter than mid-gray, so a product photographed
        /// on white turns into the light-on-dark look of Fashion-MNIST while dataset samples,
        /// already light on dark, are left as they are.
        case whenBackgroundIsLight = "when_background_is_light"
    }

    /// torchvision's `InterpolationMode` of the resize, as Pillow filters.
    public enum Interpolation: String, Codable, Sendable, CaseIterable {
        case bilinear, bicubic
    }

    public var color: Color
    public var invert: Inversion
    public var resize: Resize?
    /// The resize's filter; nil is bilinear (and is left out of the JSON).
    public var interpolation: Interpolation?
    /// A torchvision-style center crop after the resize.
    public var crop: Size?
    /// Multiplies each 8-bit sample first; 1/255 maps to [0, 1] like `ToTensor`.
    public var scale: Float
    /// One value per channel, or one for all.
    public var mean: [Float]
    public var std: [Float]

    public init(color: Color, invert: Inversion = .never, resize: Resize?, interpolation: Interpolation? = nil,
                crop: Size? = nil, scale: Float = 1 / 255, mean: [Float] = [0], std: [Float] = [1]) {
        self.color = color
        self.invert = invert
        self.resize = resize
        self.interpolation = interpolation
        self.crop = crop
        self.scale = scale
        self.mean = mean
        self.std = std
    }

    public var channels: Int { color == .rgb ? 3 : 1 }

    /// The NCHW shape `apply` produces, when it does not depend on the image.
    public var outputShape: [Int]? {
        if let crop { return [1, channels, crop.height, crop.width] }
        switch resize {
        case .exact(let width, let height)?, .letterbox(let width, let height, _)?: return [1, channels, height, width]
        case .shorterSide?, nil: return nil
        }
    }

    /// The shorter side a JPEG may be reduced to while decoding (TurboJPEG's 1/2, 1/4 and
    /// 1/8 DCT scaling) without going below the resize target. Pass it to
    /// `ImageDecoder.decode(_:minimumShorterSide:)` to trade exact agreement with a
    /// full-size Pillow decode for speed; nil when the steps keep the full resolution.
    public var minimumDecodedShorterSide: Int? {
        switch resize {
        case .shorterSide(let size)?: size
        case .exact(let width, let height)?, .letterbox(let width, let height, _)?: max(width, height)
        case nil: nil
        }
    }

    /// Runs the steps; the values are planar (channel, row, column) and `shape` is [1, C, H, W].
    public func apply(to image: Image) throws -> (values: [Float], shape: [Int]) {
        try validate()
        var picture = color == .rgb ? ColorConversion.rgb(image) : ColorConversion.gray(image)
        if invert == .always || (invert == .whenBackgroundIsLight && picture.borderMean > 127.5) {
            picture = picture.inverted()
        }
        switch resize {
        case .exact(let width, let height)?:
            picture = try picture.resized(width: width, height: height, interpolation: interpolation ?? .bilinear)
        case .shorterSide(let size)?: picture = try picture.resized(shorterSide: size, interpolation: interpolation ?? .bilinear)
        case .letterbox(let width, let height, let fill)?:
            picture = try picture.letterboxed(width: width, height: height, fill: fill)
        case nil: break
        }
        if let crop {
            picture = try picture.centerCropped(width: crop.width, height: crop.height)
        }
        return (planarValues(picture), [1, picture.channels, picture.height, picture.width])
    }

    /// The rectangle of the original image, in its pixel coordinates, that the model input
    /// covers; a saliency map of the input is drawn back over this region. It reaches past
    /// the image where letterboxing or a large crop padded it.
    ///
    /// Steps that `apply` refuses (sizes outside 1 to 65535) map onto the whole image: no
    /// model input, and so no map, can come from them.
    public func inputRegion(imageWidth: Int, imageHeight: Int) -> Region {
        var region = Region(x: 0, y: 0, width: Double(imageWidth), height: Double(imageHeight))
        guard (try? validate()) != nil, (try? Image.checkTarget(imageWidth, imageHeight)) != nil else { return region }
        var (width, height) = (imageWidth, imageHeight)
        switch resize {
        case .exact(let w, let h)?: (width, height) = (w, h)
        case .shorterSide(let size)?: (width, height) = Image.size(shorterSide: size, width: width, height: height)
        case .letterbox(let w, let h, _)?:
            let frame = Image.letterboxFrame(width: w, height: h, imageWidth: width, imageHeight: height)
            region = region.mapped(x: -frame.x, y: -frame.y, width: w, height: h, of: frame.width, frame.height)
            (width, height) = (w, h)
        case nil: break
        }
        if let crop {
            let origin = Image.centerCropOrigin(width: crop.width, height: crop.height, imageWidth: width, imageHeight: height)
            region = region.mapped(x: origin.x, y: origin.y, width: crop.width, height: crop.height, of: width, height)
        }
        return region
    }

    /// The first problem that would make `apply` refuse every image: a size outside 1 to
    /// 65535, mean or std of the wrong length, a zero or non-finite value.
    public func validate() throws {
        switch resize {
        case .exact(let width, let height)?, .letterbox(let width, let height, _)?: try Image.checkTarget(width, height)
        case .shorterSide(let size)?: try Image.checkTarget(size, size)
        case nil: break
        }
        if let crop { try Image.checkTarget(crop.width, crop.height) }
        guard mean.count == 1 || mean.count == channels, std.count == 1 || std.count == channels else {
            throw ImagingError(.invalidArgument, "mean and std need 1 or \(channels) values for \(color.rawValue) input")
        }
        guard std.allSatisfy({ $0 != 0 && $0.isFinite }), mean.allSatisfy(\.isFinite), scale.isFinite else {
            throw ImagingError(.invalidArgument, "mean, std and scale must be finite and std non-zero")
        }
    }

    private func planarValues(_ picture: Image) -> [Float] {
        let plane = picture.width * picture.height
        let channels = picture.channels
        var values = [Float](repeating: 0, count: plane * channels)
        picture.pixels.withUnsafeBufferPointer { src in
            values.withUnsafeMutableBufferPointer { dst in
                for c in 0..<channels {
                    // Same operation order as ToTensor then Normalize, for bitwise-close floats.
                    let m = mean.count == 1 ? mean[0] : mean[c]
                    let s = std.count == 1 ? std[0] : std[c]
                    for i in 0..<plane {
                        dst[c * plane + i] = (Float(src[i * channels + c]) * scale - m) / s
                    }
                }
            }
        }
        return values
    }
}

extension Preprocessing {
    public struct Size: Codable, Sendable, Equatable {
        public var width: Int
        public var height: Int

        public init(width: Int, height: Int) {
            self.width = width
            self.height = height
        }
    }

    /// A rectangle in an image's pixel coordinates.
    public struct Region: Sendable, Equatable {
        public var x: Double
        public var y: Double
        public var width: Double
        public var height: Double

        public init(x: Double, y: Double, width: Double, height: Double) {
            self.x = x
            self.y = y
            self.width = width
            self.height = height
        }

        /// The part of this region that a window (x, y, width, height) of a `outerWidth` x
        /// `outerHeight` raster covering this region shows.
        func mapped(x: Int, y: Int, width: Int, height: Int, of outerWidth: Int, _ outerHeight: Int) -> Region {
            let sx = self.width / Double(outerWidth), sy = self.height / Double(outerHeight)
            return Region(x: self.x + Double(x) * sx, y: self.y + Double(y) * sy,
                          width: Double(width) * sx, height: Double(height) * sy)
        }
    }
}
