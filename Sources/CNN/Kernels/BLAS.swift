import COpenBLAS

/// Row-major single-precision GEMM, C = alpha * op(A) * op(B) + beta * C, split across the
/// engine's threads along the larger of M and N, or on the calling thread when not `parallel`
/// (for kernels that already split their work). `finish(rows, columns)` runs on each block of
/// C as soon as the thread that computed it is done, for a bias or an activation while the
/// block is in that thread's cache, and without another pass (and parallel loop) over C.
func sgemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
           alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
           beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, parallel: Bool = true,
           finish: (_ rows: Range<Int>, _ columns: Range<Int>) -> Void = { _, _ in }) {
    if !parallel {
        serialSgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                    a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        finish(0..<m, 0..<n)
    } else if n >= m {
        parallelFor(n, cost: 2 * m * k, minimumChunk: 64) { j in
            serialSgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: j.count, k: k, alpha: alpha,
                        a: a, lda: lda, b: b + (transposeB ? j.lowerBound * ldb : j.lowerBound), ldb: ldb,
                        beta: beta, c: c + j.lowerBound, ldc: ldc)
            finish(0..<m, j)
        }
    } else {
        parallelFor(m, cost: 2 * n * k, minimumChunk: 64) { i in
            serialSgemm(transposeA: transposeA, transposeB: transposeB, m: i.count, n: n, k: k, alpha: alpha,
                        a: a + (transposeA ? i.lowerBound : i.lowerBound * lda), lda: lda, b: b, ldb: ldb,
                        beta: beta, c: c + i.lowerBound * ldc, ldc: ldc)
            finish(i, 0..<n)
        }
    }
}

/// The same GEMM on the calling thread.
@inline(__always)
private func serialSgemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
                 alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                 beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    guard m > 0, n > 0 else { return }
    EngineThreads.prepareBLAS()
    guard k > 0 else {
        if beta == 0 {
            for row in 0..<m { (c + row * ldc).update(repeating: 0, count: n) }
        }
        return
    }
    if m == 1 {
        // A single row (a dense layer at batch 1) is a matrix-vector product: GEMM would pack
        // the whole weight matrix first, which cost AlexNet's classifier more than the products.
        if beta == 0 { c.update(repeating: 0, count: n) }
        let (rows, columns) = transposeB ? (n, k) : (k, n)
        cblas_sgemv(CblasRowMajor, transposeB ? CblasNoTrans : CblasTrans, blasint(rows), blasint(columns),
                    alpha, b, blasint(ldb), a, blasint(transposeA ? lda : 1), beta, c, 1)
        return
    }
    // OpenBLAS clears C for beta = 0 one scalar store at a time (12% of SqueezeNet on Zen 3);
    // cleared here with vector stores, beta = 1 skips that pass.
    if beta == 0 {
        if ldc == n {
            c.update(repeating: 0, count: m * n)
        } else {
            for row in 0..<m { (c + row * ldc).update(repeating: 0, count: n) }
        }
    }
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
                transposeB ? CblasTrans : CblasNoTrans,
                blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
                beta == 0 ? 1 : beta, c, blasint(ldc))
}
