/// PNG's per-row prediction filters, chosen per row by libpng's heuristic: the filter whose
/// output has the smallest sum of absolute (signed) bytes usually deflates best.
enum ScanlineFilter {
    static func apply(to image: Image) -> [UInt8] {
        let bpp = image.channels
        let rowLength = image.width * bpp
        var out = [UInt8](repeating: 0, count: (rowLength + 1) * image.height)
        let zeros = [UInt8](repeating: 0, count: rowLength)
        // The five filtered versions of a row, one after another. Unchecked buffers: every
        // index below is within a row, and this loop runs five times per byte of the image.
        var candidates = [UInt8](repeating: 0, count: 5 * rowLength)
        image.pixels.withUnsafeBufferPointer { pixels in
            zeros.withUnsafeBufferPointer { zeroRow in
                candidates.withUnsafeMutableBufferPointer { candidates in
                    out.withUnsafeMutableBufferPointer { out in
                        for y in 0..<image.height {
                            let row = UnsafeBufferPointer(rebasing: pixels[(y * rowLength)..<((y + 1) * rowLength)])
                            let above = y == 0 ? zeroRow : UnsafeBufferPointer(rebasing: pixels[((y - 1) * rowLength)..<(y * rowLength)])
                            for i in 0..<rowLength {
                                let a = i >= bpp ? Int(row[i - bpp]) : 0
                                let b = Int(above[i])
                                let c = i >= bpp ? Int(above[i - bpp]) : 0
                                let x = Int(row[i])
                                candidates[i] = UInt8(x)
                                candidates[rowLength + i] = UInt8(truncatingIfNeeded: x - a)
                                candidates[2 * rowLength + i] = UInt8(truncatingIfNeeded: x - b)
                                candidates[3 * rowLength + i] = UInt8(truncatingIfNeeded: x - (a + b) / 2)
                                candidates[4 * rowLength + i] = UInt8(truncatingIfNeeded: x - paeth(a, b, c))
                            }
                            func candidate(_ k: Int) -> UnsafeMutableBufferPointer<UInt8> {
                                UnsafeMutableBufferPointer(rebasing: candidates[(k * rowLength)..<((k + 1) * rowLength)])
                            }
                            let best = (0..<5).min { cost(candidate($0)) < cost(candidate($1)) }!
                            let start = y * (rowLength + 1)
                            out[start] = UInt8(best)
                            _ = UnsafeMutableBufferPointer(rebasing: out[(start + 1)...]).update(fromContentsOf: candidate(best))
                        }
                    }
                }
            }
        }
        return out
    }

    @inline(__always)
    private static func paeth(_ a: Int, _ b: Int, _ c: Int) -> Int {
        let p = a + b - c
        let (pa, pb, pc) = (abs(p - a), abs(p - b), abs(p - c))
        if pa <= pb && pa <= pc { return a }
        return pb <= pc ? b : c
    }

    private static func cost(_ row: UnsafeMutableBufferPointer<UInt8>) -> Int {
        row.reduce(0) { $0 + Int(Int8(bitPattern: $1).magnitude) }
    }
}
