import CPNG

/// PNG through libpng's simplified API, which expands palettes, low bit depths and
/// interlacing itself and reports errors in the image struct instead of longjmp-ing
/// through Swift frames.
enum PNGDecoder {
    /// From IHDR, which the PNG specification requires to be the first chunk; libpng itself
    /// reads every chunk up to the image data before reporting the size.
    static func plan(_ bytes: UnsafeRawBufferPointer, limits: DecodingLimits, turns: Bool) throws -> DecodePlan {
        let chunks = PNGChunks(bytes: bytes)
        guard let declared = chunks.declaredSize, let channels = chunks.decodedChannels else {
            throw ImagingError(.corrupt, "not a readable PNG: the IHDR chunk is missing")
        }
        try limits.check(width: declared.width, height: declared.height)
        return DecodePlan(format: .png, declaredWidth: declared.width, declaredHeight: declared.height,
                          width: declared.width, height: declared.height, channels: channels,
                          workingBytes: chunks.hasGamma ? bytes.count : 0, turns: turns, reduction: 1)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, limits: DecodingLimits) throws -> Image {
        let chunks = PNGChunks(bytes: bytes)
        if let declared = chunks.declaredSize {
            try limits.check(width: declared.width, height: declared.height)
        }
        if let stripped = chunks.withoutGamma {
            return try stripped.withUnsafeBytes { try decodePixels($0, limits: limits) }
        }
        return try decodePixels(bytes, limits: limits)
    }

    private static func decodePixels(_ bytes: UnsafeRawBufferPointer, limits: DecodingLimits) throws -> Image {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&png) }
        guard png_image_begin_read_from_memory(&png, bytes.baseAddress, bytes.count) != 0 else {
            throw ImagingError(.corrupt, "not a readable PNG: \(message(of: png))")
        }
        try limits.check(width: Int(png.width), height: Int(png.height))

        // Keep the file's own layout: a palette expands to RGB, or RGBA when it has transparency.
        let hasColor = png.format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
        let hasAlpha = png.format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
        png.format = (hasColor ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0) | (hasAlpha ? UInt32(PNG_FORMAT_FLAG_ALPHA) : 0)
        // Without this the simplified API takes 16-bit samples as linear light and
        // gamma-encodes them on the way to 8 bits; Pillow and every training pipeline
        // simply rescale them.
        png.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)

        let width = Int(png.width), height = Int(png.height)
        let channels = (hasColor ? 3 : 1) + (hasAlpha ? 1 : 0)
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        let status = pixels.withUnsafeMutableBytes { out in
            png_image_finish_read(&png, nil, out.baseAddress, Int32(width * channels), nil)
        }
        guard status != 0 else {
            throw ImagingError(.corrupt, "the PNG data is damaged or truncated: \(message(of: png))")
        }
        return Image(unchecked: width, height, channels, pixels)
    }

    private static func message(of png: png_image) -> String {
        withUnsafeBytes(of: png.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
