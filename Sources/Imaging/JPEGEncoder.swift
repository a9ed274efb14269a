import CTurboJPEG

/// JPEG output through TurboJPEG, 4:2:0 like most cameras; used to make benchmark input.
enum JPEGEncoder {
    static func encode(_ image: Image, quality: Int32 = 90) throws -> [UInt8] {
        guard image.channels == 3 else {
            throw ImagingError(.invalidArgument, "the JPEG encoder takes RGB images")
        }
        guard let handle = tjInitCompress() else {
            throw ImagingError(.invalidArgument, "TurboJPEG could not be initialised")
        }
        defer { tjDestroy(handle) }
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        defer { tjFree(output) }
        let status = image.pixels.withUnsafeBufferPointer { pixels in
            tjCompress2(handle, pixels.baseAddress, Int32(image.width), Int32(image.width * 3), Int32(image.height),
                        Int32(TJPF_RGB.rawValue), &output, &size, Int32(TJSAMP_420.rawValue), quality, 0)
        }
        guard status == 0, let output else {
            throw ImagingError(.invalidArgument, "TurboJPEG could not encode: \(String(cString: tjGetErrorStr2(handle)))")
        }
        return Array(UnsafeBufferPointer(start: output, count: Int(size)))
    }
}
