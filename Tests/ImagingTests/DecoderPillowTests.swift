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
