import Foundation
import Imaging
import XCTest

final class PNGEncoderTests: XCTestCase {
    private func sample(width: Int, height: Int, channels: Int) throws -> Image {
        var generator = SeededGenerator(seed: UInt64(width * 31 + channels))
        let pixels = (0..<(width * height * channels)).map { i -> UInt8 in
            // Smooth areas exercise the prediction filters, noise the raw path.
            i % 7 == 0 ? UInt8.random(in: 0...255, using: &generator) : UInt8(truncatingIfNeeded: i / channels % width + i / (width * channels))
        }
        return try Image(width: width, height: height, channels: channels, pixels: pixels)
    }

    func testRoundTripsThroughLibpngForEveryLayoutAndLevel() throws {
        for channels in 1...4 {
            for (width, height) in [(1, 1), (17, 5), (64, 64), (1, 300)] {
                let image = try sample(width: width, height: height, channels: channels)
                for level in [0, 1, 6, 9] {
                    let png = try PNGEncoder.encode(image, compressionLevel: level)
                    XCTAssertEqual(try ImageDecoder.decode(png), image, "\(channels) channels, \(width)x\(height), level \(level)")
                }
            }
        }
    }

    func testHigherLevelsCompressSmoothImagesBetter() throws {
        let gradient = try Image(width: 256, height: 256, channels: 3,
                                 pixels: (0..<(256 * 256 * 3)).map { UInt8(truncatingIfNeeded: $0 / 3 % 256 + $0 / 768) })
        let stored = try PNGEncoder.encode(gradient, compressionLevel: 0)
        let small = try PNGEncoder.encode(gradient, compressionLevel: 9)
        XCTAssertGreaterThan(stored.count, 256 * 256 * 3)
        XCTAssertLessThan(small.count, stored.count / 20)
        XCTAssertThrowsError(try PNGEncoder.encode(gradient, compressionLevel: 10))
    }

    func testPillowReadsTheEncodedFiles() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("imaging-png-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var images: [Image] = []
        for channels in 1...4 {
            let image = try sample(width: 23, height: 11, channels: channels)
            images.append(image)
            try Data(PNGEncoder.encode(image)).write(to: folder.appendingPathComponent("\(channels).png"))
        }
        let reference = try PillowReference.run((1...4).map {
            ["op": "decode", "input": folder.appendingPathComponent("\($0).png").path, "output": "\($0).ppm"]
        })
        defer { reference.remove() }
        for (index, image) in images.enumerated() {
            XCTAssertEqual(try reference.pnm("\(index + 1).ppm").pixels, ColorConversion.rgb(image).pixels)
        }
    }
}
