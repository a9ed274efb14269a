import CJPEG

/// JPEG through libjpeg-turbo (`CJPEG`): baseline, progressive, arithmetic, grayscale and
/// CMYK/YCCK. A scan that ends early or holds damaged data is refused rather than filled in:
/// a few hundred bytes that declare 6000x6000 pixels must cost no more than they hold.
enum JPEGDecoder {
    /// The DCT scalings libjpeg-turbo performs fastest, largest reduction first.
    private static let reductions = [8, 4, 2]
    /// libjpeg-turbo's own bound on scans (TurboJPEG's `TJFLAG_LIMITSCANS`): a progressive file
    /// has about ten, and each scan walks every coefficient again.
    static let maxScans: Int32 = 500

    static func header(_ bytes: UnsafeRawBufferPointer) throws -> salient_jpeg_header {
        var header = salient_jpeg_header()
        var message = [CChar](repeating: 0, count: 256)
        let status = salient_jpeg_read_header(bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count,
                                              &header, &message, message.count)
        guard status == SALIENT_JPEG_OK else {
            throw ImagingError(.corrupt, "not a readable JPEG: \(String(cString: message))")
        }
        return header
    }

    /// The plan for decoding `header` with its shorter side at least `minimumShorterSide`.
    static func plan(_ header: salient_jpeg_header, minimumShorterSide: Int?, turns: Bool = false) -> DecodePlan {
        let (width, height) = (Int(header.width), Int(header.height))
        let divisor = reductionDivisor(width: width, height: height, minimumShorterSide: minimumShorterSide)
        // A CMYK raster is decoded first and converted to RGB beside it.
        let cmykBytes = header.is_cmyk != 0 ? ((width + divisor - 1) / divisor) * ((height + divisor - 1) / divisor) * 4 : 0
        return DecodePlan(format: .jpeg, declaredWidth: width, declaredHeight: height,
                          width: (width + divisor - 1) / divisor, height: (height + divisor - 1) / divisor,
                          channels: header.is_cmyk != 0 ? 3 : Int(header.output_components),
                          workingBytes: Int(header.coefficient_bytes) + cmykBytes, turns: turns, reduction: divisor)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, limits: DecodingLimits, minimumShorterSide: Int?) throws -> Image {
        let header = try header(bytes)
        try limits.check(width: Int(header.width), height: Int(header.height))
        let plan = plan(header, minimumShorterSide: minimumShorterSide)
        let components = Int(header.output_components)
        var pixels = [UInt8](repeating: 0, count: plan.width * plan.height * components)
        var message = [CChar](repeating: 0, count: 256)
        // The coefficients of a progressive file are the one buffer that grows with the declared
        // size whatever the scale; bounded by what an image within the pixel limit needs.
        let memory = max(header.coefficient_bytes, 1 << 20)
        let status = pixels.withUnsafeMutableBufferPointer { out in
            salient_jpeg_decode(bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count, Int32(plan.reduction),
                                memory, maxScans, out.baseAddress, Int32(plan.width), Int32(plan.height), Int32(components),
                                &message, message.count)
        }
        switch status {
        case SALIENT_JPEG_OK: break
        case SALIENT_JPEG_TOO_LARGE: throw ImagingError(.tooLarge, "the JPEG is too costly to decode: \(String(cString: message))")
        default: throw ImagingError(.corrupt, "the JPEG data is damaged or truncated: \(String(cString: message))")
        }
        let image = Image(unchecked: plan.width, plan.height, components, pixels)
        return header.is_cmyk != 0 ? ColorConversion.invertedCMYKToRGB(image) : image
    }

    /// The largest DCT reduction that keeps the shorter side at or above the requested size.
    private static func reductionDivisor(width: Int, height: Int, minimumShorterSide: Int?) -> Int {
        guard let minimumShorterSide else { return 1 }
        let shorter = min(width, height)
        return reductions.first { (shorter + $0 - 1) / $0 >= minimumShorterSide } ?? 1
    }
}
