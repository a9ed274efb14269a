import CTurboJPEG

/// JPEG through TurboJPEG: baseline, progressive, grayscale and CMYK/YCCK.
enum JPEGDecoder {
    /// The DCT scalings TurboJPEG performs fastest, largest reduction first.
    private static let reductions = [8, 4, 2]

    static func decode(_ bytes: UnsafeRawBufferPointer, limits: DecodingLimits, minimumShorterSide: Int?) throws -> Image {
        guard let handle = tjInitDecompress() else {
            throw ImagingError(.corrupt, "TurboJPEG could not be initialised")
        }
        defer { tjDestroy(handle) }
        let source = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let size = UInt(bytes.count)

        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        guard tjDecompressHeader3(handle, source, size, &width, &height, &subsampling, &colorspace) == 0 else {
            throw ImagingError(.corrupt, "not a readable JPEG: \(errorMessage(handle))")
        }
        try limits.check(width: Int(width), height: Int(height))

        let divisor = reductionDivisor(width: Int(width), height: Int(height), minimumShorterSide: minimumShorterSide)
        let outWidth = (Int(width) + divisor - 1) / divisor
        let outHeight = (Int(height) + divisor - 1) / divisor

        let isCMYK = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
        let (format, channels): (TJPF, Int) = switch colorspace {
        case Int32(TJCS_GRAY.rawValue): (TJPF_GRAY, 1)
        case _ where isCMYK: (TJPF_CMYK, 4)
        default: (TJPF_RGB, 3)
        }
        var pixels = [UInt8](repeating: 0, count: outWidth * outHeight * channels)
        let status = pixels.withUnsafeMutableBufferPointer { out in
            tjDecompress2(handle, source, size, out.baseAddress, Int32(outWidth), Int32(outWidth * channels),
                          Int32(outHeight), Int32(format.rawValue), TJFLAG_LIMITSCANS)
        }
        if status != 0 {
            // Warnings cover both harmless oddities (extraneous bytes between markers),
            // which Pillow accepts too, and truncation, whose missing rows TurboJPEG fills
            // with gray: only the latter is refused.
            let fatal = tjGetErrorCode(handle) == Int32(TJERR_FATAL.rawValue)
            if fatal || !JPEGSegments(bytes: bytes).endsAfterLastScan {
                throw ImagingError(.corrupt, "the JPEG data is damaged or truncated: \(errorMessage(handle))")
            }
        }
        let image = Image(unchecked: outWidth, outHeight, channels, pixels)
        return isCMYK ? ColorConversion.invertedCMYKToRGB(image) : image
    }

    /// The largest DCT reduction that keeps the shorter side at or above the requested size.
    private static func reductionDivisor(width: Int, height: Int, minimumShorterSide: Int?) -> Int {
        guard let minimumShorterSide else { return 1 }
        let shorter = min(width, height)
        return reductions.first { (shorter + $0 - 1) / $0 >= minimumShorterSide } ?? 1
    }

    private static func errorMessage(_ handle: tjhandle) -> String {
        String(cString: tjGetErrorStr2(handle))
    }
}
