// libFuzzer entry point, compiled into the Imaging module by run.sh (not part of the package).
// The same harness serves the JPEG and PNG targets: each is started from a corpus of its own
// format, and both go through format sniffing, the decoder, EXIF parsing and orientation.

private let limits = DecodingLimits(maxPixels: 4_000_000)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let image = try ImageDecoder.decode(bytes, limits: limits)
        precondition(image.pixels.count == image.width * image.height * image.channels)
    } catch let error as ImagingError {
        precondition(!error.message.isEmpty)
    } catch {
        preconditionFailure("decoder threw a non-ImagingError: \(error)")
    }
    return 0
}
