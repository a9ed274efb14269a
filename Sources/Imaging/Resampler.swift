import Foundation

/// Pillow's `Image.resize(size, Image.BILINEAR)` and `Image.BICUBIC`, which torchvision's
/// `Resize` calls for PIL images: a separable filter (triangle, or Keys' cubic with a = -0.5)
/// whose support widens with the shrink factor (antialiasing), horizontal pass first,
/// coefficients in 22-bit fixed point and 8-bit rounding between the passes, so results match
/// Pillow to the level.
enum Resampler {
    private static let precisionBits = 22

    /// Pillow's filters: support at scale 1, and the weight at a distance.
    private static func support(_ filter: Preprocessing.Interpolation) -> Double {
        filter == .bicubic ? 2 : 1
    }

    private static func weight(_ filter: Preprocessing.Interpolation, _ x: Double) -> Double {
        let x = abs(x)
        switch filter {
        case .bilinear: return max(0, 1 - x)
        case .bicubic:
            let a = -0.5
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }

    private struct Coefficients {
        var bounds: [(start: Int, count: Int)]
        var weights: [Int32]  // `size` rows of `taps` fixed-point weights
        var taps: Int
    }

    static func resize(_ image: Image, width: Int, height: Int, filter: Preprocessing.Interpolation = .bilinear) -> Image {
        guard width != image.width || height != image.height else { return image }
        let vertical = coefficients(inputSize: image.height, outputSize: height, filter: filter)
        var source = image
        var verticalBounds = vertical.bounds
        if width != image.width {
            // Only the rows the vertical pass reads are filtered horizontally.
            let first = vertical.bounds[0].start
            let last = vertical.bounds[height - 1].start + vertical.bounds[height - 1].count
            source = horizontalPass(image, rows: first..<last, coefficients(inputSize: image.width, outputSize: width, filter: filter))
            for index in verticalBounds.indices { verticalBounds[index].start -= first }
        }
        guard height != image.height else { return source }
        return verticalPass(source, Coefficients(bounds: verticalBounds, weights: vertical.weights, taps: vertical.taps),
                            height: height)
    }

    private static func coefficients(inputSize: Int, outputSize: Int, filter: Preprocessing.Interpolation) -> Coefficients {
        let scale = Double(inputSize) / Double(outputSize)
        let filterScale = max(scale, 1)
        let support = support(filter) * filterScale
        let taps = Int(support.rounded(.up)) * 2 + 1
        var bounds: [(start: Int, count: Int)] = []
        bounds.reserveCapacity(outputSize)
        var weights = [Int32](repeating: 0, count: outputSize * taps)
        var row = [Double](repeating: 0, count: taps)
        let inverseScale = 1 / filterScale  // multiplied, not divided, to round exactly as Pillow
        for out in 0..<outputSize {
            let center = (Double(out) + 0.5) * scale
            let start = max(Int(center - support + 0.5), 0)
            let count = min(Int(center + support + 0.5), inputSize) - start
            var total = 0.0
            for tap in 0..<count {
                let weight = weight(filter, (Double(tap + start) - center + 0.5) * inverseScale)
                row[tap] = weight
                total += weight
            }
            for tap in 0..<count {
                let normalized = total != 0 ? row[tap] / total : row[tap]
                // Rounded half away from zero, as Pillow does: the cubic's lobes are negative.
                weights[out * taps + tap] = Int32((normalized * Double(1 << precisionBits)).rounded(.toNearestOrAwayFromZero))
            }
            bounds.append((start, count))
        }
        return Coefficients(bounds: bounds, weights: weights, taps: taps)
    }

    @inline(__always)
    private static func clip(_ sum: Int32) -> UInt8 {
        if sum >= 255 << precisionBits { return 255 }
        if sum <= 0 { return 0 }
        return UInt8(truncatingIfNeeded: sum >> precisionBits)
    }

    /// Sums run in 32 bits: the weights' magnitudes add up to about 1 << 22 (under 1.3 times that
    /// for the cubic's negative lobes), so a sum of 8-bit samples stays below Int32.max.
    private static let half: Int32 = 1 << (precisionBits - 1)

    private static func horizontalPass(_ image: Image, rows: Range<Int>, _ k: Coefficients) -> Image {
        let channels = image.channels
        let outWidth = k.bounds.count
        let rowLength = image.width * channels
        let starts = k.bounds.map(\.start), counts = k.bounds.map(\.count)
        var out = [UInt8](repeating: 0, count: outWidth * rows.count * channels)
        image.pixels.withUnsafeBufferPointer { src in
            k.weights.withUnsafeBufferPointer { weights in
                out.withUnsafeMutableBufferPointer { dst in
                    var o = dst.baseAddress!
                    for y in rows {
                        let row = src.baseAddress! + y * rowLength
                        for x in 0..<outWidth {
                            let w = weights.baseAddress! + x * k.taps
                            let p = row + starts[x] * channels
                            // The common layouts get all their channels summed in one pass over the taps.
                            switch channels {
                            case 3: filter3(p, w, count: counts[x], into: o)
                            case 1: o[0] = clip(filter(p, w, count: counts[x], stride: 1))
                            default:
                                for c in 0..<channels { o[c] = clip(filter(p + c, w, count: counts[x], stride: channels)) }
                            }
                            o += channels
                        }
                    }
                }
            }
        }
        return Image(unchecked: outWidth, rows.count, channels, out)
    }

    @inline(__always)
    private static func filter(_ p: UnsafePointer<UInt8>, _ w: UnsafePointer<Int32>, count: Int, stride: Int) -> Int32 {
        var sum = half
        for tap in 0..<count { sum &+= Int32(p[tap * stride]) &* w[tap] }
        return sum
    }

    @inline(__always)
    private static func filter3(_ p: UnsafePointer<UInt8>, _ w: UnsafePointer<Int32>, count: Int, into o: UnsafeMutablePointer<UInt8>) {
        var (r, g, b) = (half, half, half)
        for tap in 0..<count {
            let weight = w[tap], q = p + 3 * tap
            r &+= Int32(q[0]) &* weight
            g &+= Int32(q[1]) &* weight
            b &+= Int32(q[2]) &* weight
        }
        (o[0], o[1], o[2]) = (clip(r), clip(g), clip(b))
    }

    private static func verticalPass(_ image: Image, _ k: Coefficients, height: Int) -> Image {
        let rowLength = image.width * image.channels
        var out = [UInt8](repeating: 0, count: height * rowLength)
        let sums = UnsafeMutableBufferPointer<Int32>.allocate(capacity: rowLength)
        defer { sums.deallocate() }
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let (start, count) = k.bounds[y]
                    for i in 0..<rowLength { sums[i] = half }
                    // Row by row over the taps keeps the reads sequential in memory.
                    for tap in 0..<count {
                        let weight = k.weights[y * k.taps + tap]
                        let row = src.baseAddress! + (start + tap) * rowLength
                        for i in 0..<rowLength { sums[i] &+= Int32(row[i]) &* weight }
                    }
                    let o = dst.baseAddress! + y * rowLength
                    for i in 0..<rowLength { o[i] = clip(sums[i]) }
                }
            }
        }
        return Image(unchecked: image.width, height, image.channels, out)
    }
}
