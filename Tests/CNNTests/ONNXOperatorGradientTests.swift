import CNN
import XCTest

/// Forward results and finite-difference gradient checks for the operators ONNX import adds:
/// MatMul, GlobalMaxPool, Slice, Gather, ReduceMean, LayerNorm, Pow and the pointwise functions.
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

    /// Forward and backward copy runs of consecutive scalars, in pieces when there are few;
    /// every kind of slice (a channel split of whole planes, rows of planes, steps and negative
    /// steps inside and outside the run, the whole tensor) takes the same scalars as the
    /// definition, element by element, and puts the gradient back in their places, on one
    /// thread and on two.
    func testSliceCopiesTheElementsOfTheDefinition() throws {
        let previous = EngineThreads.count
        defer { EngineThreads.set(previous) }
        let x = randomTensor([2, 6, 48, 48])
        // Each slice beside the indices it takes on each axis, resolved by hand.
        let all = [Array(0..<2), Array(0..<6), Array(0..<48), Array(0..<48)]
        let slices: [(Slice, [[Int]])] = [
            (Slice(starts: [0], ends: [3], axes: [1]), [all[0], [0, 1, 2], all[2], all[3]]),
            (Slice(starts: [3], ends: [6], axes: [1]), [all[0], [3, 4, 5], all[2], all[3]]),
            (Slice(starts: [1, 2], ends: [2, 5], axes: [0, 1]), [[1], [2, 3, 4], all[2], all[3]]),
            (Slice(starts: [5, 40], ends: [45, 2], axes: [2, 3], steps: [1, -3]),
             [all[0], all[1], Array(5..<45), Array(stride(from: 40, to: 2, by: -3))]),
            (Slice(starts: [-1, 0], ends: [Int.min, 48], axes: [1, 2], steps: [-2, 2]),
             [all[0], [5, 3, 1], Array(stride(from: 0, to: 48, by: 2)), all[3]]),
            (Slice(starts: [0], ends: [Int.max], axes: [0]), all),
        ]
        for threads in [1, 2] {
            EngineThreads.set(threads)
            for (slice, indices) in slices {
                var taken: [Int] = []
                for i in indices[0] {
                    for j in indices[1] {
                        for k in indices[2] {
                            for l in indices[3] { taken.append(((i * 6 + j) * 48 + k) * 48 + l) }
                        }
                    }
                }
                let name = "\(slice.starts) \(slice.ends) \(slice.axes) \(slice.steps) on \(threads) threads"
                let y = try run(slice, [x])
                XCTAssertEqual(y.shape, indices.map(\.count))
                XCTAssertEqual(y.scalars, taken.map { x.scalars[$0] }, name)
                // Backward puts each output gradient where its scalar came from, zero elsewhere.
                let g = randomTensor(y.shape)
                var expected = [Float](repeating: 0, count: x.count)
                for (o, i) in taken.enumerated() { expected[i] = g.scalars[o] }
                let context = ForwardContext(isTraining: false)
                let dx = slice.backward([x], output: y, outputGradient: g,
                                        context: BackwardContext(forward: context, computesParameterGradients: false))
                XCTAssertEqual(dx[0]?.scalars, expected, name)
            }
        }
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
        // Trailing axes take the row-at-a-time path.
        XCTAssertEqual(try run(ReduceMean(axes: [-1]), [x]).scalars, [2, 5])
        XCTAssertEqual(try run(ReduceMean(axes: [1, 2]), [Tensor(shape: [2, 2, 2], scalars: [1, 2, 3, 4, 5, 6, 7, 8])]).scalars, [2.5, 6.5])
        checkGradients(ReduceMean(axes: [-1]), [randomTensor([2, 3, 4])])
        checkGradients(ReduceMean(axes: [1, 2], keepsDimensions: false), [randomTensor([2, 3, 4])])
    }

    func testLayerNormNormalizesEachRow() throws {
        let x = Tensor(shape: [2, 3], scalars: [1, 2, 3, 10, 10, 40])
        let op = LayerNorm(scale: Parameter(name: "g", value: Tensor(shape: [3], scalars: [1, 2, 1])),
                           shift: Parameter(name: "b", value: Tensor(shape: [3], scalars: [0, 0, 1])), epsilon: 0)
        let y = try run(op, [x])
        let s = (2 / 3 as Float).squareRoot()
        XCTAssertEqual(y.scalars[0], -1 / s, accuracy: 1e-5)
        XCTAssertEqual(y.scalars[1], 0, accuracy: 1e-5)
        XCTAssertEqual(y.scalars[2], 1 / s + 1, accuracy: 1e-5)
        // Row 2: mean 20, variance 200.
        XCTAssertEqual(y.scalars[5], 20 / Float(200).squareRoot() + 1, accuracy: 1e-5)
        XCTAssertThrowsError(try op.outputShape(for: [[2, 4]]))
    }

    func testLayerNormGradients() throws {
        let last = LayerNorm(scale: parameter("g", [4], seed: 3), shift: parameter("b", [4], seed: 4), epsilon: 1e-5)
        checkGradients(last, [randomTensor([2, 3, 4])])
        // Over the trailing three axes of an image, without a shift.
        let image = LayerNorm(scale: parameter("g", [12], seed: 5), shift: nil, axis: -3)
        checkGradients(image, [randomTensor([2, 3, 2, 2])])
    }

    /// ChannelNorm is LayerNorm over NCHW's channels: the same values as Transposes around a
    /// LayerNorm over the last axis, on planes wider than its block of positions, and gradients
    /// against finite differences, with and without a shift.
    func testChannelNormIsLayerNormOverChannels() throws {
        let (scale, shift) = (parameter("g", [5], seed: 6), parameter("b", [5], seed: 7))
        let x = randomTensor([2, 5, 23, 31]).map { 3 * $0 + 1 }
        let last = try run(Transpose(permutation: [0, 2, 3, 1]), [x])
        let normalized = try run(LayerNorm(scale: scale, shift: shift, epsilon: 1e-5), [last])
        let expected = try run(Transpose(permutation: [0, 3, 1, 2]), [normalized])
        assertClose(try run(ChannelNorm(scale: scale, shift: shift, epsilon: 1e-5), [x]), expected, rtol: 1e-5, atol: 2e-6)
        checkGradients(ChannelNorm(scale: scale, shift: shift, epsilon: 1e-5), [randomTensor([2, 5, 3, 2])])
        checkGradients(ChannelNorm(scale: parameter("h", [3], seed: 8), shift: nil, epsilon: 1e-6), [randomTensor([1, 3, 4, 1])])
        XCTAssertThrowsError(try ChannelNorm(scale: scale, shift: nil, epsilon: 0).outputShape(for: [[1, 4, 2, 2]]))
    }

    func testPointwiseFunctions() throws {
        let x = Tensor(shape: [4], scalars: [0.25, 1, 2, 4])
        XCTAssertEqual(try run(Pointwise(.sqrt), [x]).scalars, [0.5, 1, Float(2).squareRoot(), 2])
        XCTAssertEqual(try run(Pointwise(.reciprocal), [x]).scalars, [4, 1, 0.5, 0.25])
        let erf = try run(Pointwise(.erf), [x]).scalars
        XCTAssertEqual(erf[1], 0.8427008, accuracy: 1e-6)
        // GELU(1) = Phi(1) = 0.8413447; the tanh form is within 1e-3 of it.
        XCTAssertEqual(try run(ActivationLayer(.gelu), [x]).scalars[1], 0.8413447, accuracy: 1e-6)
        XCTAssertEqual(try run(Pointwise(.geluTanh), [x]).scalars[1], 0.8413447, accuracy: 1e-3)
        XCTAssertEqual(try run(ActivationLayer(.gelu), [Tensor(shape: [1], scalars: [-2])]).scalars[0], -0.0455003, accuracy: 1e-6)
    }

    func testPointwiseGradients() throws {
        let positive = randomTensor([3, 5]).map { abs($0) + 0.5 }
        checkGradients(Pointwise(.sqrt), [positive])
        checkGradients(Pointwise(.reciprocal), [positive])
        for function in [Pointwise.Function.erf, .geluTanh] {
            checkGradients(Pointwise(function), [randomTensor([3, 5]).map { 2 * $0 }])
        }
        checkGradients(ActivationLayer(.gelu), [randomTensor([3, 5]).map { 2 * $0 }])
    }

    func testPowerBroadcastsAndSquares() throws {
        let x = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
        XCTAssertEqual(try run(Power(), [x, Tensor(shape: [], scalars: [2])]).scalars, [1, 4, 9, 16])
        XCTAssertEqual(try run(Power(), [x, Tensor(shape: [2], scalars: [0.5, 3])]).scalars, [1, 8, Float(3).squareRoot(), 64])
        XCTAssertEqual(try Power().outputShape(for: [[3], [2, 1]]), [2, 3])
    }

    func testPowerGradients() throws {
        let base = randomTensor([2, 3]).map { abs($0) + 0.5 }
        checkGradients(Power(), [base, Tensor(shape: [], scalars: [2])])
        checkGradients(Power(), [base, Tensor(shape: [3], scalars: [0.5, 1.5, 3])])
        // Both operands broadcast: the exponent's gradient sums over the rows.
        checkGradients(Power(), [randomTensor([2, 1]).map { abs($0) + 0.5 }, Tensor(shape: [1, 3], scalars: [1, 2, 2.5])])
    }
}
