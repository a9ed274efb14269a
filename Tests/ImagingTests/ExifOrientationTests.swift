import Imaging
import XCTest

final class ExifOrientationTests: XCTestCase {
    /// A 3x2 image with samples a...f, turned by hand for each of the eight tags.
    func testEachOrientationTurnsLikeTheExifSpecification() throws {
        let (a, b, c, d, e, f): (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (1, 2, 3, 4, 5, 6)
        let stored = try Image(width: 3, height: 2, channels: 1, pixels: [a, b, c, d, e, f])
        let expected: [ExifOrientation: (Int, [UInt8])] = [
            .up: (3, [a, b, c, d, e, f]),
            .upMirrored: (3, [c, b, a, f, e, d]),
            .down: (3, [f, e, d, c, b, a]),
            .downMirrored: (3, [d, e, f, a, b, c]),
            .leftMirrored: (2, [a, d, b, e, c, f]),
            .right: (2, [d, a, e, b, f, c]),
            .rightMirrored: (2, [f, c, e, b, d, a]),
            .left: (2, [c, f, b, e, a, d]),
        ]
        for orientation in ExifOrientation.allCases {
            let turned = orientation.apply(to: stored)
            let (width, pixels) = expected[orientation]!
            XCTAssertEqual(turned.width, width, "\(orientation)")
            XCTAssertEqual(turned.height, 6 / width, "\(orientation)")
            XCTAssertEqual(turned.pixels, pixels, "\(orientation)")
        }
    }

    func testChannelsMoveTogether() throws {
        let stored = try Image(width: 2, height: 1, channels: 3, pixels: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(ExifOrientation.right.apply(to: stored).pixels, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(ExifOrientation.upMirrored.apply(to: stored).pixels, [4, 5, 6, 1, 2, 3])
    }
}
