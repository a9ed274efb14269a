import CTurboJPEG
import Foundation
import Imaging
import XCTest

/// Every decoder path against Pillow on full pixel arrays.
final class DecoderPillowTests: XCTestCase {
    func testSharedImagesMatchPillow() throws {
        let count = try assertEveryFileMatchesPillow(in: PillowReference.sharedImages())
        XCTAssertGreaterThanOrEqual(count, 10)
    }

    /// 1x1, 1x40000, 40000x1, odd sizes, palettes with transparency, 1 to 16 bits,
    /// interlacing, CMYK, a non-sRGB gAMA and all eight EXIF orientations in JPEG (two in PNG eXIf).
    func testGeneratedEdgeCasesMatchPillow() throws {
        let generated = try PillowReference.run([["op": "synthesize", "output": "files"]])
        defer { generated.remove() }
        XCTAssertEqual(try assertEveryFileMatchesPillow(in: generated.url("files")), 27)
    }

    /// Pillow cannot write YCCK, so TurboJPEG makes one here from CMYK samples.
    func testYCCKMatchesPillow() throws {
        let (width, height) = (45, 31)
        let cmyk = (0..<(width * height * 4)).map { UInt8(truncatingIfNeeded: $0 * 7 + $0 / 97) }
        let handle = try XCTUnwrap(tjInitCompress())
        defer { tjDestroy(handle) }
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        defer { tjFree(output) }
        XCTAssertEqual(tjCompress2(handle, cmyk, Int32(width), Int32(width * 4), Int32(height), Int32(TJPF_CMYK.rawValue),
                                   &output, &size, Int32(TJSAMP_420.rawValue), 95, 0), 0)
        let jpeg = Array(UnsafeBufferPointer(start: output, count: Int(size)))

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("imaging-ycck-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data(jpeg).write(to: folder.appendingPathComponent("ycck.jpg"))
        let reader = try XCTUnwrap(tjInitDecompress())
        defer { tjDestroy(reader) }
        var header: (Int32, Int32, Int32, Int32) = (0, 0, 0, 0)
        XCTAssertEqual(tjDecompressHeader3(reader, jpeg, size, &header.0, &header.1, &header.2, &header.3), 0)
        XCTAssertEqual(header.3, Int32(TJCS_YCCK.rawValue))
        XCTAssertEqual(try assertEveryFileMatchesPillow(in: folder), 1)
    }

    private func assertEveryFileMatchesPillow(in folder: URL) throws -> Int {
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        let reference = try PillowReference.run(files.map {
            ["op": "decode", "input": folder.appendingPathComponent($0).path, "output": $0 + ".ppm"]
        })
        defer { reference.remove() }
        for file in files {
            let image = try ImageDecoder.decode([UInt8](Data(contentsOf: folder.appendingPathComponent(file))))
            let expected = try reference.pnm(file + ".ppm")
            let rgb = ColorConversion.rgb(image)
            XCTAssertEqual([rgb.width, rgb.height], [expected.width, expected.height], file)
            guard rgb.pixels.count == expected.pixels.count else { continue }
            let difference = meanAbsoluteDifference(rgb.pixels, expected.pixels)
            XCTAssertLessThan(difference, 1.0, "\(file): mean absolute difference \(difference)")
        }
        return files.count
    }
}
