import Foundation
import Imaging
import XCTest

final class RenderingTests: XCTestCase {
    /// Entries checked against matplotlib 3.11 (`cmap(i, bytes=True)`).
    func testColormapsMatchMatplotlib() {
        let expected: [Colormap: [[UInt8]]] = [
            .gray: [[0, 0, 0], [128, 128, 128], [255, 255, 255]],
            .viridis: [[68, 1, 84], [32, 144, 140], [253, 231, 36]],
            .inferno: [[0, 0, 3], [187, 55, 84], [252, 254, 164]],
            .magma: [[0, 0, 3], [182, 54, 121], [251, 252, 191]],
            .jet: [[0, 0, 127], [124, 255, 121], [127, 0, 0]],
        ]
        for colormap in Colormap.allCases {
            XCTAssertEqual(colormap.table.count, 768)
            for (value, rgb) in zip([Float(0), 0.5, 1], expected[colormap]!) {
                let color = colormap.color(value)
                XCTAssertEqual([color.red, color.green, color.blue], rgb, "\(colormap) at \(value)")
            }
            let outside = (colormap.color(-3), colormap.color(7), colormap.color(.nan))
            XCTAssertEqual([outside.0.red, outside.1.red, outside.2.red], [expected[colormap]![0][0], expected[colormap]![2][0], expected[colormap]![0][0]])
        }
    }

    func testMinMaxAndPercentileNormalization() throws {
        let ramp = try Heatmap(width: 100, height: 1, values: (1...100).map(Float.init))
        let minMax = try ramp.normalized(.minMax)
        XCTAssertEqual(minMax.values.first, 0)
        XCTAssertEqual(minMax.values.last, 1)
        XCTAssertEqual(minMax.values[49], 49 / 99, accuracy: 1e-6)
        // numpy.percentile(1...100, 99) = 99.01: 99 and 100 both clip to 1.
        let clipped = try ramp.normalized()
        XCTAssertEqual(clipped.values[98], (99 - 1) / 98.01, accuracy: 1e-5)
        XCTAssertEqual(clipped.values[99], 1)
        let both = try ramp.normalized(.percentile(lower: 1, upper: 99))
        XCTAssertEqual(both.values[0], 0)
        XCTAssertEqual(both.values[1], 0.01 / 97.02, accuracy: 1e-5)

        let constant = try Heatmap(width: 2, height: 1, values: [3, 3]).normalized()
        XCTAssertEqual(constant.values, [0, 0])
        let broken = try Heatmap(width: 3, height: 1, values: [.nan, 1, 2]).normalized(.minMax)
        XCTAssertEqual(broken.values, [0, 0, 1])
        XCTAssertThrowsError(try ramp.normalized(.percentile(lower: 50, upper: 10)))
    }

    /// The same numbers as torch.nn.functional.interpolate(mode="bilinear", align_corners=False).
    func testUpsamplingMatchesAlignCornersFalse() throws {
        let map = try Heatmap(width: 2, height: 2, values: [0, 1, 2, 3])
        let up = try map.resized(width: 4, height: 4)
        XCTAssertEqual(up.values, [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3])
    }

    func testUpsamplingIntoARegionLeavesTheRestEmpty() throws {
        let map = try Heatmap(width: 1, height: 1, values: [5])
        let placed = try map.resized(width: 4, height: 2, region: Preprocessing.Region(x: 1, y: 0, width: 2, height: 2))
        XCTAssertEqual(placed.values, [0, 5, 5, 0, 0, 5, 5, 0])
        XCTAssertThrowsError(try map.resized(width: 0, height: 2))
    }

    func testOverlayBlendsWithAlpha() throws {
        let photo = try Image(width: 1, height: 1, channels: 1, pixels: [100])
        let layer = try Image(width: 1, height: 1, channels: 3, pixels: [0, 200, 255])
        XCTAssertEqual(try photo.overlaid(with: layer).pixels, [50, 150, 178])
        XCTAssertEqual(try photo.overlaid(with: layer, alpha: 0).pixels, [100, 100, 100])
        XCTAssertThrowsError(try photo.overlaid(with: layer, alpha: 2))
        XCTAssertThrowsError(try photo.overlaid(with: Image(width: 2, height: 1, channels: 1, pixels: [0, 0])))
    }

    func testRendererDrawsTheMapAtImageSize() throws {
        let photo = try Image(width: 30, height: 20, channels: 3, pixels: [UInt8](repeating: 90, count: 30 * 20 * 3))
        var values = [Float](repeating: 0, count: 7 * 7)
        values[24] = 10  // the centre
        let map = try Heatmap(width: 7, height: 7, values: values)
        let alone = try HeatmapRenderer(colormap: .jet, normalization: .minMax, overlayAlpha: nil).render(map, on: photo)
        XCTAssertEqual([alone.width, alone.height, alone.channels], [30, 20, 3])
        let corner = Array(alone.pixels[0..<3]), centre = Array(alone.pixels[(10 * 30 + 15) * 3..<(10 * 30 + 15) * 3 + 3])
        XCTAssertEqual(corner, [0, 0, 127], "cold corner")
        XCTAssertGreaterThan(centre[0], 200, "hot centre is red")

        let png = try HeatmapRenderer().renderPNG(map, on: photo)
        let decoded = try ImageDecoder.decode(png)
        XCTAssertEqual([decoded.width, decoded.height, decoded.channels], [30, 20, 3])
    }
}
