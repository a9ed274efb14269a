import CNN
import XCTest

/// Resize against values worked out by hand from the ONNX definitions, and its backward against
/// finite differences for every filter (the ONNX node tests check the forward more widely).
final class ResizeTests: XCTestCase {
    private func run(_ op: Resize, _ x: Tensor) throws -> Tensor {
        var y = Tensor(zeros: try op.outputShape(for: [x.shape]))
        op.forward([x], into: &y, context: ForwardContext(isTraining: false))
        return y
    }

    private let row = Tensor(shape: [1, 1, 1, 4], scalars: [1, 2, 3, 4])

    func testNearestUpsamplingByTwoRepeatsEachValue() throws {
        // PyTorch's F.interpolate(scale_factor=2) exports as asymmetric coordinates rounded down,
        // as Upsample always was.
        let op = Resize(targets: [nil, nil, .scale(2), .scale(2)], filter: .nearest(.floor), coordinateMode: .asymmetric)
        let x = Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4])
        let y = try run(op, x)
        XCTAssertEqual(y.shape, [1, 1, 4, 4])
        XCTAssertEqual(y.scalars, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
    }

    func testLinearCoordinateModes() throws {
        // half_pixel (and pytorch_half_pixel, align_corners=False): output j samples
        // (j + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, ...; the edges clamp.
        let half = try run(Resize(targets: [nil, nil, nil, .scale(2)], filter: .linear), row)
        XCTAssertEqual(half.scalars, [1, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4])
        // align_corners: output j samples j * 3 / 7.
        let corners = try run(Resize(targets: [nil, nil, nil, .size(8)], filter: .linear, coordinateMode: .alignCorners), row)
        for (j, v) in corners.scalars.enumerated() { XCTAssertEqual(v, 1 + Float(j) * 3 / 7, accuracy: 1e-6) }
        // asymmetric: output j samples j / 2.
        let asymmetric = try run(Resize(targets: [nil, nil, nil, .scale(2)], filter: .linear, coordinateMode: .asymmetric), row)
        XCTAssertEqual(asymmetric.scalars, [1, 1.5, 2, 2.5, 3, 3.5, 4, 4])
        // pytorch_half_pixel differs from half_pixel only for an output of length 1: it reads -0.5.
        let single = try run(Resize(targets: [nil, nil, nil, .size(1)], filter: .linear, coordinateMode: .pytorchHalfPixel), row)
        XCTAssertEqual(single.scalars, [1])
        let centred = try run(Resize(targets: [nil, nil, nil, .size(1)], filter: .linear), row)
        XCTAssertEqual(centred.scalars, [2.5])
    }

    func testCubicAndNearestRounding() throws {
        // A linear ramp is reproduced by the cubic convolution wherever no tap is clamped.
        let ramp = Tensor(shape: [1, 8], scalars: (0..<8).map(Float.init))
        let cubic = try run(Resize(targets: [nil, .scale(2)], filter: .cubic(a: -0.75), coordinateMode: .asymmetric), ramp)
        for j in 2..<12 { XCTAssertEqual(cubic.scalars[j], Float(j) / 2, accuracy: 1e-5) }
        // round_prefer_floor at x.5 takes the left neighbour, round_prefer_ceil the right.
        let x = Tensor(shape: [1, 2], scalars: [10, 20])
        let floor = try run(Resize(targets: [nil, .scale(4)], filter: .nearest(.roundPreferFloor), coordinateMode: .asymmetric), x)
        XCTAssertEqual(floor.scalars, [10, 10, 10, 20, 20, 20, 20, 20])
        let ceil = try run(Resize(targets: [nil, .scale(4)], filter: .nearest(.roundPreferCeil), coordinateMode: .asymmetric), x)
        XCTAssertEqual(ceil.scalars, [10, 10, 20, 20, 20, 20, 20, 20])
    }

    func testIdentityScaleCopies() throws {
        let x = Tensor(shape: [1, 2, 3, 3], scalars: (0..<18).map(Float.init))
        XCTAssertEqual(try run(Resize(targets: [nil, nil, .scale(1), .size(3)], filter: .linear), x), x)
    }

    func testGradients() throws {
        let x = randomTensor([2, 2, 3, 4], seed: 11)
        let cases: [Resize] = [
            Resize(targets: [nil, nil, .scale(2), .scale(2)], filter: .nearest(.floor), coordinateMode: .asymmetric),
            Resize(targets: [nil, nil, .scale(2), .scale(1.5)], filter: .linear, coordinateMode: .pytorchHalfPixel),
            Resize(targets: [nil, nil, .size(5), .size(7)], filter: .linear, coordinateMode: .alignCorners),
            Resize(targets: [nil, nil, .scale(2), .scale(2)], filter: .cubic(a: -0.5), excludeOutside: true),
            // Downsampling with antialiasing widens the filter: several taps per output.
            Resize(targets: [nil, nil, .size(2), .size(2)], filter: .linear, antialias: true),
            Resize(targets: [nil, nil, .scale(0.6), .scale(0.6)], filter: .cubic(a: -0.75), antialias: true),
        ]
        for op in cases { GradientChecker().check(op, [x]) }
    }

    func testCropAndResizeFillsOutsideTheInput() throws {
        let x = Tensor(shape: [1, 4], scalars: [0, 1, 2, 3])
        // The region [0.5, 1.5] of the axis: half of it lies past the end.
        let op = Resize(targets: [nil, .size(3)], filter: .linear, coordinateMode: .tfCropAndResize,
                        regionOfInterest: [(0, 1), (0.5, 1.5)], extrapolationValue: -1)
        XCTAssertEqual(try run(op, x).scalars, [1.5, 3, -1])
        GradientChecker().check(op, [randomTensor([2, 4], seed: 3)])
    }
}
