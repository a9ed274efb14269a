import CTurboJPEG

/// JPEG output through TurboJPEG, for RGB or grayscale images.
public enum JPEGEncoder {
    /// - Parameter subsampled: halve the chroma resolution both ways (4:2:0, as most cameras
    ///   write); false keeps every chroma sample (4:4:4), for re-encoding without visible loss.
    public static func encode(_ image: Image, quality: Int = 90, subsampled: Bool = true) throws -> [UInt8] {
        guard image.channels == 3 || image.channels == 1 else {
            throw ImagingError(.invalidArgument, "the JPEG encoder takes RGB or grayscale images")
        }
        guard (1...100).contains(quality) else {
            throw ImagingError(.invalidArgument, "JPEG quality must be 1 to 100, got \(quality)")
        }
        guard let handle = tjInitCompress() else {
            throw ImagingError(.invalidArgument, "TurboJPEG could not be initialised")
        }
        defer { tjDestroy(handle) }
        let gray = image.channels == 1
        let format = gray ? TJPF_GRAY : TJPF_RGB
        let sampling = gray ? TJSAMP_GRAY : subsampled ? TJSAMP_420 : TJSAMP_444
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        defer { tjFree(output) }
        let status = image.pixels.withUnsafeBufferPointer { pixels in
            tjCompress2(handle, pixels.baseAddress, Int32(image.width), Int32(image.width * image.channels), Int32(image.height),
                        Int32(format.rawValue), &output, &size, Int32(sampling.rawValue), Int32(quality), 0)
        }
        guard status == 0, let output else {
            throw ImagingError(.invalidArgument, "TurboJPEG could not encode: \(String(cString: tjGetErrorStr2(handle)))")
        }
        return Array(UnsafeBufferPointer(start: output, count: Int(size)))
    }
}
