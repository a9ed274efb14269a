import COpenBLAS

/// Row-major single-precision GEMM, C = alpha * op(A) * op(B) + beta * C, through OpenBLAS.
@inline(__always)
func sgemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
           alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
           beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    guard m > 0, n > 0 else { return }
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
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
                transposeB ? CblasTrans : CblasNoTrans,
                blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
                beta, c, blasint(ldc))
}

/// The engine's thread count: OpenBLAS uses it for GEMM, and the engine's own kernels use the
/// same number, so the two never oversubscribe the cores.
public enum EngineThreads {
    public static func set(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    public static var count: Int { Int(openblas_get_num_threads()) }
}
