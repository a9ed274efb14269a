import CNN
import XCTest

/// Forward results and finite-difference gradient checks for the operators ONNX import adds:
/// MatMul, GlobalMaxPool, Slice, Gather and ReduceMean.
final class ONNXOperatorGradientTests: XCTestCase {
    private var random = RandomSource(seed: 7)

    private func randomTensor(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in random.nextUniform() * 2 - 1 })
    }

    private func run(_ op: Operator, _ inputs: [Tensor]) throws -> Tensor {
        var output = Tensor(zeros: try op.outputShape(for: inputs.map(\.shape)))
        op.forward(inputs, into: &output, context: ForwardContext(isTraining: false))
        return output
    }

    private func checkGradients(_ op: Operator, _ inputs: [Tensor], file: StaticString = #filePath, line: UInt = #line) {
        GradientChecker().check(op, inputs, file: file, line: line)
    }

    func testMatMulMatchesNaiveProductWithBroadcastBatches() throws {
        let a = randomTensor([2, 1, 3, 4]), b = randomTensor([3, 4, 5])
        let y = try run(MatMul(), [a, b])
        XCTAssertEqual(y.shape, [2, 3, 3, 5])
        for i in 0..<2 { for j in 0..<3 { for m in 0..<3 { for n in 0..<5 {
            let expected = (0..<4).reduce(Float(0)) { $0 + a[i, 0, m, $1] * b[j, $1, n] }
            XCTAssertEqual(y[i, j, m, n], expected, accuracy: 1e-5)
        } } } }
    }

    func testMatMulVectorOperandsDropTheirAxis() throws {
        XCTAssertEqual(try MatMul().outputShape(for: [[4], [4, 5]]), [5])
        XCTAssertEqual(try MatMul().outputShape(for: [[2, 3, 4], [4]]), [2, 3])
        XCTAssertEqual(try MatMul().outputShape(for: [[4], [4]]), [])
        XCTAssertThrowsError(try MatMul().outputShape(for: [[2, 3], [4, 5]]))
    }

    func testMatMulGradients() throws {
        checkGradients(MatMul(), [randomTensor([2, 1, 3, 4]), randomTensor([3, 4, 2])])
        checkGradients(MatMul(), [randomTensor([3]), randomTensor([3, 2])])
        // Single-row products take the matrix-vector path, with and without transposes.
        checkGradients(MatMul(), [randomTensor([1, 4]), randomTensor([4, 5])])
        checkGradients(MatMul(), [randomTensor([3, 1]), randomTensor([1, 5])])
    }

    func testGlobalMaxPool() throws {
        let x = Tensor(shape: [1, 2, 2, 2], scalars: [1, 5, 3, 2, -1, -4, -2, -3])
        XCTAssertEqual(try run(GlobalMaxPool(), [x]).scalars, [5, -1])
        checkGradients(GlobalMaxPool(), [randomTensor([2, 3, 3, 4])])
    }

    func testSliceClampsAndStepsBackwards() throws {
        let x = Tensor(shape: [2, 5], scalars: (0..<10).map(Float.init))
        let forward = Slice(starts: [1, -4], ends: [Int.max, 100], axes: [0, 1], steps: [1, 2])
        XCTAssertEqual(try run(forward, [x]).scalars, [6, 8])
        let backward = Slice(starts: [-1], ends: [Int.min], axes: [-1], steps: [-2])
        let y = try run(backward, [x])
        XCTAssertEqual(y.shape, [2, 3])
        XCTAssertEqual(y.scalars, [4, 2, 0, 9, 7, 5])
        XCTAssertThrowsError(try Slice(starts: [0], ends: [1], axes: [0], steps: [0]).outputShape(for: [[3]]))
        XCTAssertThrowsError(try Slice(starts: [0], ends: [1], axes: [2]).outputShape(for: [[3]]))
    }

    func testSliceGradients() throws {
        checkGradients(Slice(starts: [1, 3], ends: [3, 0], axes: [1, 2], steps: [1, -2]), [randomTensor([2, 3, 5])])
    }

    func testGatherWithNegativeAndMatrixIndices() throws {
        let x = Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6])
        let y = try run(Gather(axis: 0, indices: [0, -1, 1, 0], indicesShape: [2, 2]), [x])
        XCTAssertEqual(y.shape, [2, 2, 2])
        XCTAssertEqual(y.scalars, [1, 2, 5, 6, 3, 4, 1, 2])
        XCTAssertEqual(try run(Gather(axis: 1, indices: [1], indicesShape: []), [x]).scalars, [2, 4, 6])
        XCTAssertThrowsError(try Gather(axis: 0, indices: [3], indicesShape: [1]).outputShape(for: [[3, 2]]))
    }

    func testGatherGradientsAccumulateRepeatedIndices() throws {
        checkGradients(Gather(axis: 1, indices: [2, 0, 2], indicesShape: [3]), [randomTensor([2, 3, 2])])
    }

    func testReduceMean() throws {
        let x = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try run(ReduceMean(axes: [1]), [x]).scalars, [2, 5])
        XCTAssertEqual(try ReduceMean(axes: [1]).outputShape(for: [[2, 3]]), [2, 1])
        XCTAssertEqual(try run(ReduceMean(axes: [-2], keepsDimensions: false), [x]).scalars, [2.5, 3.5, 4.5])
        XCTAssertEqual(try run(ReduceMean(axes: nil, keepsDimensions: false), [x]).scalars, [3.5])
        checkGradients(ReduceMean(axes: [0, 2]), [randomTensor([2, 3, 4])])
    }
}
