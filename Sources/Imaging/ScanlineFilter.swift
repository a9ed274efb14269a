/// PNG's per-row prediction filters, chosen per row by libpng's heuristic: the filter whose
/// output has the smallest sum of absolute (signed) bytes usually deflates best.
enum ScanlineFilter {
    static func apply(to image: Image) -> [UInt8] {
        let bpp = image.channels
        let rowLength = image.width * bpp
        var out = [UInt8](repeating: 0, count: (rowLength + 1) * image.height)
        let zeros = [UInt8](repeating: 0, count: rowLength)
        var candidates = [[UInt8]](repeating: [UInt8](repeating: 0, count: rowLength), count: 5)
        image.pixels.withUnsafeBufferPointer { pixels in
            for y in 0..<image.height {
                let row = UnsafeBufferPointer(rebasing: pixels[(y * rowLength)..<((y + 1) * rowLength)])
                zeros.withUnsafeBufferPointer { zeroRow in
                    let above = y == 0 ? zeroRow : UnsafeBufferPointer(rebasing: pixels[((y - 1) * rowLength)..<(y * rowLength)])
                    for i in 0..<rowLength {
                        let a = i >= bpp ? Int(row[i - bpp]) : 0
                        let b = Int(above[i])
                        let c = i >= bpp ? Int(above[i - bpp]) : 0
                        let x = Int(row[i])
                        candidates[0][i] = UInt8(x)
                        candidates[1][i] = UInt8(truncatingIfNeeded: x - a)
                        candidates[2][i] = UInt8(truncatingIfNeeded: x - b)
                        candidates[3][i] = UInt8(truncatingIfNeeded: x - (a + b) / 2)
                        candidates[4][i] = UInt8(truncatingIfNeeded: x - paeth(a, b, c))
                    }
                }
                let best = (0..<5).min { cost(candidates[$0]) < cost(candidates[$1]) }!
                let start = y * (rowLength + 1)
                out[start] = UInt8(best)
                out.replaceSubrange((start + 1)..<(start + 1 + rowLength), with: candidates[best])
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

    private static func cost(_ row: [UInt8]) -> Int {
        row.reduce(0) { $0 + Int(Int8(bitPattern: $1).magnitude) }
    }
}
