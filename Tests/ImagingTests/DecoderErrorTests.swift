import Foundation
import Imaging
import TestSupport
import XCTest

/// Hostile, damaged and oversized input must end in an `ImagingError` of the right kind.
final class DecoderErrorTests: XCTestCase {
    func testEmptyAndGarbageAreNotImages() {
        assertFails([], kind: .unsupportedFormat)
        assertFails(Array("GIF89a not supported".utf8), kind: .unsupportedFormat)
        var generator = SystemRandomNumberGenerator()
        assertFails((0..<4096).map { _ in UInt8.random(in: 0...0xFE, using: &generator) }, kind: .unsupportedFormat)
    }

    func testSignatureFollowedByGarbageIsCorrupt() {
        assertFails([0xFF, 0xD8, 0xFF] + Array(repeating: 0x42, count: 500), kind: .corrupt)
        assertFails([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Array(repeating: 0x42, count: 500), kind: .corrupt)
    }

    func testTruncatedFilesAreCorrupt() throws {
        let folder = try PillowReference.sharedImages()
        for name in ["fish.jpg", "chelsea_progressive.jpg", "chelsea_cmyk.jpg", "coffee.png", "chelsea_palette.png"] {
            let bytes = [UInt8](try Data(contentsOf: folder.appendingPathComponent(name)))
            for fraction in [0.02, 0.3, 0.6, 0.95] {
                assertFails(Array(bytes.prefix(Int(Double(bytes.count) * fraction))), kind: .corrupt,
                            "\(name) cut at \(fraction)")
            }
            if name.hasSuffix(".jpg") {
                assertFails(Array(bytes.dropLast(2)), kind: .corrupt, "\(name) without its end marker")
            }
        }
    }

    func testTrailingBytesAfterTheImageAreAccepted() throws {
        let folder = try PillowReference.sharedImages()
        let bytes = [UInt8](try Data(contentsOf: folder.appendingPathComponent("fish.jpg")))
        let clean = try ImageDecoder.decode(bytes)
        XCTAssertEqual(try ImageDecoder.decode(bytes + Array(repeating: 0, count: 100)), clean)
    }

    func testFlippedBytesNeverCrash() throws {
        let folder = try PillowReference.sharedImages()
        var generator = SeededGenerator(seed: 42)
        for name in ["chelsea_progressive.jpg", "chelsea_palette.png"] {
            let bytes = [UInt8](try Data(contentsOf: folder.appendingPathComponent(name)))
            for _ in 0..<40 {
                var damaged = bytes
                for _ in 0..<8 { damaged[Int.random(in: 2..<damaged.count, using: &generator)] ^= 0xFF }
                do {
                    let image = try ImageDecoder.decode(damaged)
                    XCTAssertGreaterThan(image.pixels.count, 0)
                } catch let error as ImagingError {
                    XCTAssertFalse(error.message.isEmpty)
                }
            }
        }
    }

    /// A PNG header claiming 100000x100000 pixels in a few dozen bytes.
    func testPNGDecompressionBombIsRefusedFromTheHeader() {
        assertFails(pngHeader(width: 100_000, height: 100_000), kind: .tooLarge)
        assertFails(pngHeader(width: 7000, height: 6000), kind: .tooLarge)
        assertFails(pngHeader(width: 1, height: 70000), kind: .tooLarge)
    }

    func testJPEGDecompressionBombIsRefusedFromTheHeader() throws {
        let folder = try PillowReference.sharedImages()
        let bytes = [UInt8](try Data(contentsOf: folder.appendingPathComponent("fish.jpg")))
        assertFails(withFrameSize(bytes, width: 65500, height: 65500), kind: .tooLarge)
    }

    /// The bomb of issue 20: a header declaring 6000x6000 over a scan of 16x16 pixels and an
    /// end marker, a few hundred bytes. Filling the rest with gray (as TurboJPEG and Pillow do)
    /// cost seconds and hundreds of megabytes; the scan ends early, so the file is corrupt.
    func testScanShorterThanTheHeaderIsCorrupt() throws {
        let bomb = HostileJPEG.truncatedScan(width: 6000, height: 6000, blocks: 4)
        XCTAssertLessThan(bomb.count, 1000)
        assertFails(bomb, kind: .corrupt)
        assertFails(bomb, kind: .corrupt, minimumShorterSide: 224)
        // The same writer with every block present decodes: the refusal is about the missing data.
        let whole = try ImageDecoder.decode(HostileJPEG.complete(width: 48, height: 40))
        XCTAssertEqual([whole.width, whole.height, whole.channels], [48, 40, 1])
        XCTAssertEqual(Set(whole.pixels), [128])
        assertFails(HostileJPEG.truncatedScan(width: 48, height: 40, blocks: 29), kind: .corrupt)
    }

    /// Real files of every kind cut inside a scan and given back their end marker: the marker
    /// is there, the data is not.
    func testScansCutShortBeforeAnEndMarkerAreCorrupt() throws {
        let folder = try PillowReference.sharedImages()
        for name in ["fish.jpg", "chelsea_progressive.jpg", "chelsea_cmyk.jpg", "chelsea_exif_rot6.jpg", "retina.jpg"] {
            let bytes = [UInt8](try Data(contentsOf: folder.appendingPathComponent(name)))
            for fraction in [0.3, 0.6, 0.9] {
                let cut = Array(bytes.prefix(Int(Double(bytes.count) * fraction))) + [0xFF, 0xD9]
                assertFails(cut, kind: .corrupt, "\(name) cut at \(fraction) with an end marker")
                assertFails(cut, kind: .corrupt, minimumShorterSide: 64, "\(name) cut at \(fraction), scaled")
            }
        }
    }

    /// Thousands of scans make the decoder walk every coefficient thousands of times: past
    /// libjpeg-turbo's bound of 500 the file is refused as too costly, below it decodes.
    func testProgressiveFileWithTooManyScansIsRefused() throws {
        let image = try ImageDecoder.decode(HostileJPEG.progressive(width: 64, height: 64, scans: 400))
        XCTAssertEqual([image.width, image.height], [64, 64])
        assertFails(HostileJPEG.progressive(width: 64, height: 64, scans: 600), kind: .tooLarge)
    }

    /// Stray bytes between markers lose no pixel (some cameras write them, Pillow reads them).
    func testExtraneousBytesBetweenMarkersAreAccepted() throws {
        let folder = try PillowReference.sharedImages()
        let bytes = [UInt8](try Data(contentsOf: folder.appendingPathComponent("fish.jpg")))
        let frame = try XCTUnwrap((2..<bytes.count - 1).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 })
        let padded = Array(bytes[..<frame]) + [0x00, 0x11, 0x22] + bytes[frame...]
        XCTAssertEqual(try ImageDecoder.decode(padded), try ImageDecoder.decode(bytes))
    }

    /// A PNG whose image data stops before the last row, as a complete zlib stream or a cut one.
    func testPNGWithFewerRowsThanItsHeaderIsCorrupt() throws {
        let whole = try ImageDecoder.decode(HostilePNG.rgb(width: 300, height: 200))
        XCTAssertEqual([whole.width, whole.height, whole.channels], [300, 200, 3])
        assertFails(HostilePNG.rgb(width: 300, height: 200, rows: 199), kind: .corrupt)
        assertFails(HostilePNG.rgb(width: 4000, height: 4000, rows: 2), kind: .corrupt)
        let complete = HostilePNG.rgb(width: 300, height: 200)
        let end = complete.count - 12  // the IEND chunk
        let cutStream = Array(complete[..<(end - 5000)])
        assertFails(cutStream + HostilePNG.chunk("IEND", []), kind: .corrupt, "zlib stream cut, IEND after it")
    }

    func testPlanReadsTheHeadersOnly() throws {
        let plan = try ImageDecoder.plan(Data(HostileJPEG.truncatedScan(width: 6000, height: 4000, blocks: 4)),
                                         minimumShorterSide: 500)
        XCTAssertEqual([plan.declaredWidth, plan.declaredHeight, plan.width, plan.height, plan.channels],
                       [6000, 4000, 750, 500, 1])
        let png = try ImageDecoder.plan(Data(HostilePNG.rgb(width: 4000, height: 4000, rows: 2)))
        XCTAssertEqual([png.width, png.height, png.channels], [4000, 4000, 3])
        XCTAssertThrowsError(try ImageDecoder.plan(Data(HostilePNG.rgb(width: 7000, height: 7000, rows: 1)))) { error in
            XCTAssertEqual((error as? ImagingError)?.kind, .tooLarge)
        }
        let progressive = try ImageDecoder.plan(Data(HostileJPEG.progressive(width: 800, height: 600, scans: 2)))
        XCTAssertEqual(progressive.workingBytes, 100 * 75 * 128, "one 128-byte block of coefficients per 8x8 block")
    }

    func testRefusalsNameTheSetting() {
        let limits = DecodingLimits(maxPixels: 1000, settingNames: [.pixels: "max_image_pixels"])
        XCTAssertThrowsError(try ImageDecoder.decode(HostilePNG.rgb(width: 100, height: 100), limits: limits)) { error in
            XCTAssertTrue("\(error)".contains("max_image_pixels"), "\(error)")
        }
    }

    func testLimitsAreConfigurable() throws {
        let folder = try PillowReference.sharedImages()
        let bytes = [UInt8](try Data(contentsOf: folder.appendingPathComponent("fish.jpg")))
        assertFails(bytes, limits: DecodingLimits(maxPixels: 720 * 719), kind: .tooLarge)
        assertFails(bytes, limits: DecodingLimits(maxDimension: 719), kind: .tooLarge)
        assertFails(bytes, limits: DecodingLimits(maxBytes: bytes.count - 1), kind: .tooLarge)
        XCTAssertNoThrow(try ImageDecoder.decode(bytes, limits: DecodingLimits(maxPixels: 720 * 720)))
    }

    private func assertFails(_ bytes: [UInt8], limits: DecodingLimits = DecodingLimits(), kind: ImagingError.Kind,
                             minimumShorterSide: Int? = nil, _ context: String = "",
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ImageDecoder.decode(bytes, limits: limits, minimumShorterSide: minimumShorterSide), context,
                             file: file, line: line) { error in
            guard let error = error as? ImagingError else {
                return XCTFail("\(context): \(error) is not an ImagingError", file: file, line: line)
            }
            XCTAssertEqual(error.kind, kind, "\(context): \(error.message)", file: file, line: line)
            XCTAssertFalse(error.message.isEmpty, file: file, line: line)
        }
    }

    private func pngHeader(width: UInt32, height: UInt32) -> [UInt8] {
        func be(_ value: UInt32) -> [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) } }
        let ihdr = Array("IHDR".utf8) + be(width) + be(height) + [8, 2, 0, 0, 0]
        let idat = Array("IDAT".utf8) + [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]
        let iend = Array("IEND".utf8)
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + be(13) + ihdr + be(crc32(ihdr))
            + be(8) + idat + be(crc32(idat)) + be(0) + iend + be(crc32(iend))
    }

    private func withFrameSize(_ jpeg: [UInt8], width: Int, height: Int) -> [UInt8] {
        var bytes = jpeg
        let frame = (2..<bytes.count - 1).first { bytes[$0] == 0xFF && (bytes[$0 + 1] == 0xC0 || bytes[$0 + 1] == 0xC2) }!
        bytes[frame + 5] = UInt8(height >> 8)
        bytes[frame + 6] = UInt8(height & 0xFF)
        bytes[frame + 7] = UInt8(width >> 8)
        bytes[frame + 8] = UInt8(width & 0xFF)
        return bytes
    }
}

/// SplitMix64, so damaged-file tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
