import Foundation
import Imaging
import XCTest

/// Every decoder path against Pillow on full pixel arrays.
final class DecoderPillowTests: XCTestCase {
    func testSharedImagesMatchPillow() throws {
        let folder = try PillowReference.sharedImages()
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        XCTAssertGreaterThanOrEqual(files.count, 10)
        let reference = try PillowReference.run(files.map {
            ["op": "decode", "input": folder.appendingPathComponent($0).path, "output": $0 + ".ppm"]
        })
        defer { reference.remove() }
        for file in files {
            try assertMatchesPillow(folder.appendingPathComponent(file), reference: reference, name: file + ".ppm")
        }
    }

    func testGeneratedEdgeCasesMatchPillow() throws {
        let generated = try PillowReference.run([["op": "synthesize", "output": "files"]])
        defer { generated.remove() }
        let folder = generated.url("files")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        XCTAssertEqual(files.count, 26)
        let reference = try PillowReference.run(files.map {
            ["op": "decode", "input": folder.appendingPathComponent($0).path, "output": $0 + ".ppm"]
        })
        defer { reference.remove() }
        for file in files {
            try assertMatchesPillow(folder.appendingPathComponent(file), reference: reference, name: file + ".ppm")
        }
    }

    private func assertMatchesPillow(_ file: URL, reference: PillowReference, name: String) throws {
        let image = try ImageDecoder.decode([UInt8](Data(contentsOf: file)))
        let expected = try reference.pnm(name)
        let rgb = ColorConversion.rgb(image)
        XCTAssertEqual(rgb.width, expected.width, file.lastPathComponent)
        XCTAssertEqual(rgb.height, expected.height, file.lastPathComponent)
        guard rgb.pixels.count == expected.pixels.count else { return }
        let difference = meanAbsoluteDifference(rgb.pixels, expected.pixels)
        XCTAssertLessThan(difference, 1.0, "\(file.lastPathComponent): mean absolute difference \(difference)")
        print("\(file.lastPathComponent): \(rgb.width)x\(rgb.height)x\(image.channels) mean |diff| \(difference), max \(maxAbsoluteDifference(rgb.pixels, expected.pixels))")
    }
}
