/// Stride-1 pooling whose output is the input's size (Inception's 3x3 pools with padding 1),
/// each pass over a whole plane as one flat array, long enough to vectorize where a 14x14
/// plane's rows were not (Inception v2's average pools had taken four times onnxruntime's time).
/// Row r of the vertical pass folds input rows shifted by each tap; each output then folds the
/// vertical results shifted by each column tap, where the flat shift wraps into the neighbouring
/// row at the plane's left and right edges, so those columns are folded again, per row.
/// `F` folds the values (a sum, a maximum), as a type so that each pool gets its own
/// specialized, vectorized loops (a closure left them scalar and six times slower); `finish`
/// runs on each output plane (an average's divisors).
func sameSizePool<F: PoolFold>(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int, window w: Window,
                               folding _: F.Type, finish: (UnsafeMutablePointer<Float>) -> Void) {
    let (H, W, area) = (w.inputHeight, w.inputWidth, w.inputHeight * w.inputWidth)
    let (left, right) = (w.padLeft, w.kernel.w - 1 - w.padLeft)
    @inline(__always) func fold(_ a: UnsafePointer<Float>, into b: UnsafeMutablePointer<Float>, count: Int) {
        for k in 0..<count { b[k] = F.fold(b[k], a[k]) }
    }
    parallelFor(planes, cost: area * (w.kernel.h + w.kernel.w + 1)) { range in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: area) { buffer in
            let columns = buffer.baseAddress!
            for p in range {
                let (xp, yp) = (x + p * area, y + p * area)
                columns.update(repeating: F.identity, count: area)
                for i in 0..<w.kernel.h {
                    let shift = i - w.padTop
                    let rows = Swift.max(0, -shift)..<Swift.min(H, H - shift)
                    if !rows.isEmpty { fold(xp + (rows.lowerBound + shift) * W, into: columns + rows.lowerBound * W, count: rows.count * W) }
                }
                yp.update(repeating: F.identity, count: area)
                for j in 0..<w.kernel.w {
                    let shift = j - left
                    let flat = Swift.max(0, -shift)..<Swift.min(area, area - shift)
                    if !flat.isEmpty { fold(columns + flat.lowerBound + shift, into: yp + flat.lowerBound, count: flat.count) }
                }
                @inline(__always) func refold(row r: Int, column c: Int) {
                    var folded = F.identity
                    for column in Swift.max(0, c - left)..<Swift.min(W, c + right + 1) {
                        folded = F.fold(folded, columns[r * W + column])
                    }
                    yp[r * W + c] = folded
                }
                for r in 0..<H {
                    for c in 0..<Swift.min(left, W) { refold(row: r, column: c) }
                    for c in Swift.max(W - right, left)..<W { refold(row: r, column: c) }
                }
                finish(yp)
            }
        }
    }
}

/// How a pool folds the values under its window.
protocol PoolFold {
    static var identity: Float { get }
    static func fold(_ accumulated: Float, _ value: Float) -> Float
}

enum SumFold: PoolFold {
    static var identity: Float { 0 }
    @inline(__always) static func fold(_ accumulated: Float, _ value: Float) -> Float { accumulated + value }
}

/// The larger value, NaN winning (either), as max pooling propagates NaN.
enum MaxFold: PoolFold {
    static var identity: Float { -.infinity }
    @inline(__always) static func fold(_ accumulated: Float, _ value: Float) -> Float {
        value > accumulated || value != value ? value : accumulated
    }
}
