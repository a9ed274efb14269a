import Foundation
import Imaging
import XCTest

final class PreprocessingTests: XCTestCase {
    func testPresetsRoundTripThroughReadableJSON() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(Preprocessing.imagenet), as: UTF8.self)
        XCTAssertTrue(json.contains(#""resize":{"mode":"shorter_side","size":256}"#), json)
        XCTAssertTrue(json.contains(#""crop":{"height":224,"width":224}"#), json)
        for preset in Preprocessing.presets.values {
            XCTAssertEqual(try JSONDecoder().decode(Preprocessing.self, from: encoder.encode(preset)), preset)
        }
        let handWritten = #"{"color":"grayscale","invert":"always","resize":{"mode":"exact","width":5,"height":7},"scale":1,"mean":[0.5],"std":[2]}"#
        let decoded = try JSONDecoder().decode(Preprocessing.self, from: Data(handWritten.utf8))
        XCTAssertEqual(decoded, Preprocessing(color: .grayscale, invert: .always, resize: .exact(width: 5, height: 7),
                                              scale: 1, mean: [0.5], std: [2]))
        XCTAssertThrowsError(try JSONDecoder().decode(Preprocessing.self, from: Data(
            #"{"color":"rgb","invert":"never","resize":{"mode":"stretchy"},"scale":1,"mean":[0],"std":[1]}"#.utf8)))
        // The filter is bilinear unless named, and only named when it is not.
        XCTAssertFalse(json.contains("interpolation"), json)
        let bicubic = try JSONDecoder().decode(Preprocessing.self, from: Data(
            #"{"resize":{"mode":"shorter_side","size":300},"interpolation":"bicubic"}"#.utf8))
        XCTAssertEqual(bicubic.interpolation, .bicubic)
        XCTAssertThrowsError(try JSONDecoder().decode(Preprocessing.self, from: Data(
            #"{"resize":{"mode":"shorter_side","size":300},"interpolation":"lanczos"}"#.utf8))) { error in
            XCTAssertTrue("\(error)".contains("bilinear, bicubic"), "\(error)")
        }
    }

    func testChannelsAreLaidOutPlanarAndNormalized() throws {
        // 2x1 RGB: pixel 0 = (10, 20, 30), pixel 1 = (40, 50, 60).
        let image = try Image(width: 2, height: 1, channels: 3, pixels: [10, 20, 30, 40, 50, 60])
        let steps = Preprocessing(color: .rgb, resize: nil, scale: 1, mean: [0, 10, 20], std: [1, 2, 4])
        let (values, shape) = try steps.apply(to: image)
        XCTAssertEqual(shape, [1, 3, 1, 2])
        XCTAssertEqual(values, [10, 40, 5, 20, 2.5, 10])
        XCTAssertThrowsError(try Preprocessing(color: .rgb, resize: nil, mean: [0, 0]).apply(to: image))
        XCTAssertThrowsError(try Preprocessing(color: .rgb, resize: nil, std: [0]).apply(to: image))
    }

    func testFashionMNISTInvertsPhotosOnWhiteButNotDatasetSamples() throws {
        // A dark square on a white background, as a product photo.
        var photo = [UInt8](repeating: 255, count: 40 * 60 * 3)
        for y in 15..<45 { for x in 10..<30 { for c in 0..<3 { photo[(y * 40 + x) * 3 + c] = 20 } } }
        let (values, shape) = try Preprocessing.fashionMNIST.apply(to: Image(width: 40, height: 60, channels: 3, pixels: photo))
        XCTAssertEqual(shape, [1, 1, 28, 28])
        XCTAssertEqual(values[0], 0, "padding and background are black")
        XCTAssertEqual(values[14 * 28 + 14], Float(235) / 255, accuracy: 1e-6, "the item is light")
        XCTAssertEqual(Preprocessing.fashionMNIST.outputShape, [1, 1, 28, 28])

        // A dataset-like sample: light item on black, already 28x28, passes through unchanged.
        var sample = [UInt8](repeating: 0, count: 28 * 28)
        for i in 300..<500 { sample[i] = UInt8(i % 256) }
        let passed = try Preprocessing.fashionMNIST.apply(to: Image(width: 28, height: 28, channels: 1, pixels: sample))
        let worst = zip(passed.values, sample).map { abs($0 - Float($1) / 255) }.max() ?? .infinity
        XCTAssertLessThan(worst, 1e-6)
    }

    func testCenterCropFollowsTorchvisionRounding() throws {
        let pixels = (0..<(7 * 1)).map { UInt8($0) }
        let row = try Image(width: 7, height: 1, channels: 1, pixels: pixels)
        // (7 - 4) / 2 = 1.5 rounds to 2; (7 - 6) / 2 = 0.5 rounds to 0.
        XCTAssertEqual(try row.centerCropped(width: 4, height: 1).pixels, [2, 3, 4, 5])
        XCTAssertEqual(try row.centerCropped(width: 6, height: 1).pixels, [0, 1, 2, 3, 4, 5])
        // Larger than the image: zero padding, (9 - 7) // 2 = 1 on the left.
        XCTAssertEqual(try row.centerCropped(width: 9, height: 1).pixels, [0, 0, 1, 2, 3, 4, 5, 6, 0])
    }

    func testLetterboxCentresThePicture() throws {
        let image = try Image(width: 4, height: 2, channels: 1, pixels: [UInt8](repeating: 200, count: 8))
        let boxed = try image.letterboxed(width: 4, height: 4, fill: 9)
        XCTAssertEqual(boxed.pixels, [9, 9, 9, 9] + [UInt8](repeating: 200, count: 8) + [9, 9, 9, 9])
    }

    func testInputRegionMapsTheModelInputBackOntoTheImage() {
        let region = Preprocessing.imagenet.inputRegion(imageWidth: 512, imageHeight: 256)
        // 512x256 -> 512x256 resized to 512x256 (shorter side 256, no change), crop 224 at (144, 16).
        XCTAssertEqual(region, Preprocessing.Region(x: 144, y: 16, width: 224, height: 224))
        let boxed = Preprocessing.fashionMNIST.inputRegion(imageWidth: 56, imageHeight: 28)
        // 56x28 fits as 28x14 at y = 7: the 28x28 input spans 56x56 of the image from y = -14.
        XCTAssertEqual(boxed, Preprocessing.Region(x: 0, y: -14, width: 56, height: 56))
    }

    func testInvalidTargetSizesAreErrors() throws {
        let image = try Image(width: 2, height: 2, channels: 1, pixels: [1, 2, 3, 4])
        XCTAssertThrowsError(try image.resized(width: 0, height: 3))
        XCTAssertThrowsError(try image.cropped(x: 0, y: 0, width: -1, height: 1))
        XCTAssertThrowsError(try Image(width: 2, height: 2, channels: 1, pixels: [1, 2, 3]))
        XCTAssertThrowsError(try Image(width: 2, height: 2, channels: 5, pixels: [UInt8](repeating: 0, count: 20)))
        // Sizes from a hand-written model card must fail cleanly, not overflow.
        XCTAssertThrowsError(try image.resized(shorterSide: .max))
        XCTAssertThrowsError(try image.letterboxed(width: .max, height: 3))
        let hostile = Preprocessing(color: .rgb, resize: .letterbox(width: .max, height: .max, fill: 0))
        XCTAssertThrowsError(try hostile.apply(to: image))
        XCTAssertEqual(hostile.inputRegion(imageWidth: 2, imageHeight: 2), Preprocessing.Region(x: 0, y: 0, width: 2, height: 2))
        XCTAssertThrowsError(try Preprocessing(color: .rgb, resize: nil, crop: .init(width: 0, height: 1)).apply(to: image))
    }
}
