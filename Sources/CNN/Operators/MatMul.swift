/// Matrix product with numpy semantics: the last two axes multiply, earlier axes broadcast,
/// and a rank-1 operand is a row (left) or column (right) vector whose axis is dropped.
public final class MatMul: Operator {
    public let kind = "matmul"

    public init() {}

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 2 else { throw ShapeError("expects 2 inputs, got \(inputShapes.count)") }
        return try Layout(inputShapes[0], inputShapes[1]).outputShape
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        // Shapes were checked by outputShape before the executor calls forward.
        let layout = try! Layout(inputs[0].shape, inputs[1].shape)
        let (a, b, y) = (inputs[0].scalars, inputs[1].scalars, output.scalars)
        for batch in 0..<layout.batchCount {
            let (ia, ib) = layout.operandBatches(batch)
            sgemm(m: layout.m, n: layout.n, k: layout.k,
                  a: a + ia * layout.m * layout.k, lda: layout.k,
                  b: b + ib * layout.k * layout.n, ldb: layout.n,
                  c: y + batch * layout.m * layout.n, ldc: layout.n)
        }
    }

    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let layout = try! Layout(inputs[0].shape, inputs[1].shape)
        var da = Tensor(zeros: inputs[0].shape)
        var db = Tensor(zeros: inputs[1].shape)
        let (m, n, k) = (layout.m, layout.n, layout.k)
        inputs[0].scalars.withUnsafeBufferPointer { a in
            inputs[1].scalars.withUnsafeBufferPointer { b in
                outputGradient.scalars.withUnsafeBufferPointer { g in
                    da.scalars.withUnsafeMutableBufferPointer { da in
                        db.scalars.withUnsafeMutableBufferPointer { db in
                            // Broadcast operand batches receive the sum over every batch that read them.
                            for batch in 0..<layout.batchCount {
                                let (ia, ib) = layout.operandBatches(batch)
                                let gy = g.baseAddress! + batch * m * n
                                sgemm(transposeB: true, m: m, n: k, k: n, a: gy, lda: n,
                                      b: b.baseAddress! + ib * k * n, ldb: n,
                                      beta: 1, c: da.baseAddress! + ia * m * k, ldc: k)
                                sgemm(transposeA: true, m: k, n: n, k: m, a: a.baseAddress! + ia * m * k, lda: k,
                                      b: gy, ldb: n, beta: 1, c: db.baseAddress! + ib * k * n, ldc: n)
                            }
                        }
                    }
                }
            }
        }
        return [da, db]
    }

    /// The product viewed as a batch of [m, k] x [k, n] GEMMs.
    private struct Layout {
        let m: Int
        let k: Int
        let n: Int
        let outputShape: [Int]
        let batchShape: [Int]
        let aBatchShape: [Int]
        let bBatchShape: [Int]

        init(_ a: [Int], _ b: [Int]) throws {
            guard !a.isEmpty, !b.isEmpty else { throw ShapeError("operands must have rank 1 or more, got \(a) and \(b)") }
            let aMatrix = a.count == 1 ? [1, a[0]] : a
            let bMatrix = b.count == 1 ? [b[0], 1] : b
            m = aMatrix[aMatrix.count - 2]
            k = aMatrix[aMatrix.count - 1]
            n = bMatrix[bMatrix.count - 1]
            guard bMatrix[bMatrix.count - 2] == k else {
                throw ShapeError("inner dimensions differ: \(a) x \(b)")
            }
            let aBatch = Array(aMatrix.dropLast(2))
            let bBatch = Array(bMatrix.dropLast(2))
            let rank = max(aBatch.count, bBatch.count)
            aBatchShape = [Int](repeating: 1, count: rank - aBatch.count) + aBatch
            bBatchShape = [Int](repeating: 1, count: rank - bBatch.count) + bBatch
            var batch: [Int] = []
            for (x, y) in zip(aBatchShape, bBatchShape) {
                guard x == y || x == 1 || y == 1 else {
                    throw ShapeError("batch dimensions \(aBatch) and \(bBatch) do not broadcast")
                }
                batch.append(x == 1 ? y : x)
            }
            batchShape = batch
            var shape = batch
            if a.count > 1 { shape.append(m) }
            if b.count > 1 { shape.append(n) }
            outputShape = shape
        }

        var batchCount: Int { batchShape.reduce(1, *) }

        /// The batch index of each operand that output batch `index` reads.
        func operandBatches(_ index: Int) -> (Int, Int) {
            var rest = index
            var ia = 0, ib = 0, strideA = 1, strideB = 1
            for axis in stride(from: batchShape.count - 1, through: 0, by: -1) {
                let coordinate = rest % batchShape[axis]
                rest /= batchShape[axis]
                if aBatchShape[axis] != 1 { ia += coordinate * strideA }
                if bBatchShape[axis] != 1 { ib += coordinate * strideB }
                strideA *= aBatchShape[axis]
                strideB *= bBatchShape[axis]
            }
            return (ia, ib)
        }
    }
}
