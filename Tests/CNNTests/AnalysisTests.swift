import CNN
import Foundation
import XCTest

/// The worked examples of parameters, MACs and receptive fields.
final class AnalysisTests: XCTestCase {
    func analyze(_ json: String) throws -> ModelAnalysis {
        try ModelAnalysis(graph: Architecture(json: Data(json.utf8)).makeGraph())
    }

    func testSingleFilterConvolution() throws {
        let one = try analyze(#"{"name":"a","input":{"channels":3,"height":32,"width":32},"layers":[{"type":"conv2d","filters":1,"kernel":3,"padding":"same"}]}"#)
        XCTAssertEqual(one.layers[0].outputShape, [1, 32, 32])
        XCTAssertEqual(one.totalParams, 28)
        let sixteen = try analyze(#"{"name":"a","input":{"channels":3,"height":32,"width":32},"layers":[{"type":"conv2d","filters":16,"kernel":3,"padding":"same"}]}"#)
        XCTAssertEqual(sixteen.totalParams, 448)
    }

    func testNetworkC() throws {
        let c = try analyze(#"{"name":"c","input":{"channels":3,"height":32,"width":32},"layers":[{"type":"conv2d","filters":8,"kernel":3,"stride":1,"padding":"same","activation":"relu"},{"type":"conv2d","filters":16,"kernel":5,"stride":2,"padding":"same"},{"type":"flatten"},{"type":"dense","units":512,"activation":"relu"},{"type":"dense","units":4}]}"#)
        XCTAssertEqual(c.layers.map(\.params), [224, 3216, 0, 2_097_664, 2052])
        XCTAssertEqual(c.layers[0].outputShape, [8, 32, 32])
        XCTAssertEqual(c.layers[1].outputShape, [16, 16, 16])
        XCTAssertEqual(c.layers[3].params + c.layers[4].params, 2_099_716)
        XCTAssertEqual(c.totalParams, 2_103_156)
        XCTAssertEqual(c.trainableParams, 2_103_156)
    }

    func testStandardAgainstDepthwiseSeparable() throws {
        let standard = try analyze(#"{"name":"s","input":{"channels":3,"height":16,"width":16},"layers":[{"type":"conv2d","filters":256,"kernel":5,"padding":"valid"}]}"#)
        XCTAssertEqual(standard.layers[0].outputShape, [256, 12, 12])
        XCTAssertEqual(standard.totalParams, 19_456)
        XCTAssertEqual(standard.totalMacs, 2_764_800)
        let separable = try analyze(#"{"name":"d","input":{"channels":3,"height":16,"width":16},"layers":[{"type":"depthwise_conv2d","kernel":5},{"type":"conv2d","filters":256,"kernel":1}]}"#)
        XCTAssertEqual(separable.layers[1].outputShape, [256, 12, 12])
        XCTAssertEqual(separable.totalParams, 1_102)
        XCTAssertEqual(separable.totalMacs, 121_392)
    }

    func testReceptiveFields() throws {
        let strided = try analyze(#"{"name":"r","input":{"channels":1,"height":5,"width":5},"layers":[{"type":"conv2d","filters":1,"kernel":3,"stride":2,"padding":1},{"type":"conv2d","filters":1,"kernel":3,"stride":2,"padding":1}]}"#)
        XCTAssertEqual(strided.layers.map(\.outputShape), [[1, 3, 3], [1, 2, 2]])
        XCTAssertEqual(strided.layers[1].receptiveField.size, [7, 7])
        XCTAssertEqual(strided.layers[1].receptiveField.jump, [4, 4])
        XCTAssertEqual(strided.layers[1].receptiveField.start, [0, 0])

        let stacked = try analyze(#"{"name":"r","input":{"channels":1,"height":9,"width":9},"layers":[{"type":"conv2d","filters":1,"kernel":3},{"type":"conv2d","filters":1,"kernel":3}]}"#)
        XCTAssertEqual(stacked.layers[1].receptiveField.size, [5, 5])

        for depth in 1...6 {
            let layers = Array(repeating: #"{"type":"conv2d","filters":1,"kernel":[1,3]}"#, count: depth).joined(separator: ",")
            let oneD = try analyze(#"{"name":"l","input":{"channels":1,"height":1,"width":20},"layers":["# + layers + "]}")
            XCTAssertEqual(oneD.layers.last!.receptiveField.size, [1, 2 * depth + 1])
        }

        let dilated = try analyze(#"{"name":"r","input":{"channels":1,"height":9,"width":9},"layers":[{"type":"conv2d","filters":1,"kernel":3,"dilation":2}]}"#)
        XCTAssertEqual(dilated.layers[0].receptiveField.size, [5, 5])
        XCTAssertEqual(dilated.layers[0].outputShape, [1, 5, 5])
    }

    func testMalformedArchitecturesAreClearErrors() {
        XCTAssertThrowsError(try analyze(#"{"name":"x","input":{"channels":1,"height":4,"width":4},"layers":[{"type":"conv2d","kernel":3}]}"#)) {
            XCTAssertTrue("\($0)".contains("filters"), "\($0)")
        }
        XCTAssertThrowsError(try analyze(#"{"name":"x","input":{"channels":1,"height":4,"width":4},"layers":[{"type":"conv2d","filters":2,"kernel":9}]}"#)) {
            XCTAssertTrue("\($0)".contains("conv2d1"), "\($0)")
        }
        XCTAssertThrowsError(try analyze(#"{"name":"x","input":{"channels":1,"height":4,"width":4},"layers":[{"type":"warp"}]}"#))
        XCTAssertThrowsError(try analyze(#"{"name":"x","layers":[]}"#)) {
            XCTAssertTrue("\($0)".contains("input"), "\($0)")
        }
        XCTAssertThrowsError(try analyze(#"{"name":"x","input":{"channels":1,"height":4,"width":4},"layers":[{"type":"add","inputs":["nowhere"]}]}"#))
    }
}
