import Foundation

/// Resampling of any axes by nearest, linear or cubic interpolation, as ONNX Resize (opsets 10
/// to 19) and Upsample define it: every output position along a resized axis is a weighted sum
/// of a few input positions (its taps), and the axes are resized one after another.
///
/// The taps follow the ONNX reference: the output coordinate maps to an input coordinate by the
/// coordinate transformation mode, the filter gives the weights of its nearest neighbours (the
/// left one preferred), and positions outside the input read the edge. Backward scatters each
/// output gradient back along the same taps.
public final class Resize: Operator {
    public let kind = "resize"

    public enum Filter: Equatable, Sendable {
        case nearest(Rounding)
        case linear
        /// Keys' cubic convolution with coefficient `a` (-0.75 in ONNX, -0.5 in Pillow).
        case cubic(a: Double)
    }

    /// How nearest interpolation rounds an input coordinate.
    public enum Rounding: String, Sendable {
        case roundPreferFloor = "round_prefer_floor"
        case roundPreferCeil = "round_prefer_ceil"
        case floor, ceil
    }

    /// How an output index maps to an input coordinate.
    public enum CoordinateMode: String, Sendable {
        case halfPixel = "half_pixel"
        case pytorchHalfPixel = "pytorch_half_pixel"
        case alignCorners = "align_corners"
        case asymmetric
        /// Named tf_half_pixel_for_nn before ONNX 1.13.
        case tfHalfPixelForNearest = "tf_half_pixel_for_nearest"
        case halfPixelSymmetric = "half_pixel_symmetric"
        case tfCropAndResize = "tf_crop_and_resize"
    }

    /// The target of one axis: a scale (the output is floor(input * scale)) or a size.
    public enum Target: Equatable, Sendable {
        case scale(Double)
        case size(Int)
    }

    /// One entry per input axis; `keep` leaves the axis (the free batch axis) as it is.
    public let targets: [Target?]
    public let filter: Filter
    public let coordinateMode: CoordinateMode
    /// Downsampling widens the linear and cubic filters by 1 / scale (Pillow's antialiasing).
    public let antialias: Bool
    /// Taps outside the input get no weight and the rest are renormalized.
    public let excludeOutside: Bool
    /// tf_crop_and_resize only: per axis, the region's start and end as fractions of the input,
    /// and the value of outputs that fall outside the input.
    public let regionOfInterest: [(start: Double, end: Double)]?
    public let extrapolationValue: Float

    public init(targets: [Target?], filter: Filter, coordinateMode: CoordinateMode = .halfPixel,
                antialias: Bool = false, excludeOutside: Bool = false,
                regionOfInterest: [(start: Double, end: Double)]? = nil, extrapolationValue: Float = 0) {
        self.targets = targets
        self.filter = filter
        self.coordinateMode = coordinateMode
        self.antialias = antialias
        self.excludeOutside = excludeOutside
        self.regionOfInterest = regionOfInterest
        self.extrapolationValue = extrapolationValue
    }

    /// The output size and scale of each axis of an input of `shape`.
    private func resolved(_ shape: [Int]) throws -> [(size: Int, scale: Double)] {
        guard targets.count == shape.count else {
            throw ShapeError("\(targets.count) resize targets for an input of rank \(shape.count)")
        }
        return try zip(shape, targets).map { length, target in
            switch target {
            case nil: return (length, 1)
            case let .scale(s)?:
                guard s > 0, s.isFinite, Double(length) * s < Double(1 << 31) else { throw ShapeError("invalid scale \(s)") }
                return (Int((Double(length) * s).rounded(.down)), s)
            case let .size(n)?:
                guard n > 0, length > 0 else { throw ShapeError("cannot resize an axis of \(length) to \(n)") }
                return (n, Double(n) / Double(length))
            }
        }
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1 else { throw ShapeError("expects one input, got \(inputShapes.count)") }
        let axes = try resolved(inputShapes[0])
        guard axes.allSatisfy({ $0.size > 0 }) else { throw ShapeError("the output \(axes.map(\.size)) would be empty") }
        return axes.map(\.size)
    }

    /// The taps of one axis: output position j reads `count` inputs from `indices[j * count...]`
    /// with `weights[j * count...]`; `outside[j]` marks tf_crop_and_resize outputs that take the
    /// extrapolation value instead.
    struct Taps {
        var count: Int
        var indices: [Int]
        var weights: [Float]
        var outside: [Bool]

        var isIdentity: Bool {
            let outputs = outside.count
            return (0..<outputs).allSatisfy { j in
                !outside[j] && (0..<count).allSatisfy { t in
                    weights[j * count + t] == 0 || (weights[j * count + t] == 1 && indices[j * count + t] == j)
                }
            }
        }
    }

    /// Per axis, its taps, or nil where the axis is left as it is.
    private var cache: (shape: [Int], taps: [Taps?])?
    private let cacheLock = NSLock()

    func taps(for shape: [Int]) -> [Taps?] {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        if let cache, cache.shape == shape { return cache.taps }
        let axes = try! resolved(shape)
        let taps = shape.indices.map { axis -> Taps? in
            guard targets[axis] != nil else { return nil }
            let t = axisTaps(input: shape[axis], output: axes[axis].size, scale: axes[axis].scale,
                             region: regionOfInterest?[axis])
            return t.isIdentity && t.outside.count == shape[axis] ? nil : t
        }
        cache = (shape, taps)
        return taps
    }

    private func coefficients(_ ratio: Double, scale: Double) -> [Double] {
        switch filter {
        case let .nearest(rounding):
            if ratio == 1 { return [0, 1] }
            switch rounding {
            case .roundPreferFloor: return ratio <= 0.5 ? [1, 0] : [0, 1]
            case .roundPreferCeil: return ratio < 0.5 ? [1, 0] : [0, 1]
            case .floor: return [1, 0]
            case .ceil: return [0, 1]
            }
        case .linear:
            guard antialias, scale < 1 else { return [1 - ratio, ratio] }
            let start = Int((-1 / scale).rounded(.down)) + 1
            let weights = (start..<(2 - start)).map { i in max(0, 1 - abs((Double(i) - ratio) * scale)) }
            let sum = weights.reduce(0, +)
            return weights.map { $0 / sum }
        case let .cubic(a):
            func kernel(_ x: Double) -> Double {
                let x = abs(x)
                if x <= 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
                if x < 2 { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
                return 0
            }
            guard antialias, scale < 1 else { return [kernel(ratio + 1), kernel(ratio), kernel(1 - ratio), kernel(2 - ratio)] }
            let start = Int((-2 / scale).rounded(.down)) + 1
            let weights = (start..<(2 - start)).map { i in kernel(scale * (Double(i) - ratio)) }
            let sum = weights.reduce(0, +)
            return weights.map { $0 / sum }
        }
    }

    private func axisTaps(input: Int, output: Int, scale: Double, region: (start: Double, end: Double)?) -> Taps {
        let outputLength = scale * Double(input)
        var taps = Taps(count: 0, indices: [], weights: [], outside: [])
        for j in 0..<output {
            let y = Double(j)
            var x: Double
            switch coordinateMode {
            case .alignCorners: x = outputLength == 1 ? 0 : y * Double(input - 1) / (outputLength - 1)
            case .asymmetric: x = y / scale
            case .pytorchHalfPixel: x = outputLength == 1 ? -0.5 : (y + 0.5) / scale - 0.5
            case .halfPixel: x = (y + 0.5) / scale - 0.5
            case .tfHalfPixelForNearest: x = (y + 0.5) / scale
            case .halfPixelSymmetric:
                let offset = Double(input) / 2 * (1 - Double(output) / outputLength)
                x = offset + (y + 0.5) / scale - 0.5
            case .tfCropAndResize:
                let (start, end) = region ?? (0, 1)
                x = outputLength == 1 ? (end - start) * Double(input - 1) / 2
                                      : y * (end - start) * Double(input - 1) / (outputLength - 1)
                x += start * Double(input - 1)
            }
            let floor = x.rounded(.down)
            // The ratio lies in (0, 1]: an integer coordinate counts as the right end of the
            // interval to its left, as in the reference.
            let ratio = x == floor ? 1 : x - floor
            var weights = coefficients(ratio, scale: scale)
            let n = weights.count
            // The n indices nearest x, the smaller preferred: the window of an even filter
            // starts n / 2 - 1 left of floor(x) (n / 2 at an integer), an odd one's is centred
            // on the nearest integer.
            let start: Int
            if n % 2 == 0 {
                start = Int(floor) - n / 2 + (x == floor ? 0 : 1)
            } else {
                start = Int(floor) - (n - 1) / 2 + (x - floor <= 0.5 ? 0 : 1)
            }
            if excludeOutside {
                for t in 0..<n where start + t < 0 || start + t >= input { weights[t] = 0 }
                let sum = weights.reduce(0, +)
                if sum != 0 { weights = weights.map { $0 / sum } }
            }
            taps.count = n
            for t in 0..<n {
                taps.indices.append(Swift.min(Swift.max(start + t, 0), input - 1))
                taps.weights.append(Float(weights[t]))
            }
            taps.outside.append(coordinateMode == .tfCropAndResize && (x < 0 || x > Double(input - 1)))
        }
        return taps
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let shape = inputs[0].shape
        let taps = taps(for: shape)
        let resized = taps.indices.filter { taps[$0] != nil }
        guard !resized.isEmpty else {
            output.scalars.update(from: inputs[0].scalars, count: output.count)
            return
        }
        // Intermediate results alternate between the two halves of the workspace; the last
        // axis writes the output.
        var current = shape
        let sizes = resized.indices.map { k -> Int in
            var s = shape
            for axis in resized[...k] { s[axis] = taps[axis]!.outside.count }
            return s.reduce(1, *)
        }
        let scratch = sizes.dropLast().max() ?? 0
        context.workspace.withBuffers(scratch, scratch) { first, second in
            var source = UnsafePointer(inputs[0].scalars)
            for (k, axis) in resized.enumerated() {
                let target = k == resized.count - 1 ? output.scalars : (k % 2 == 0 ? first : second)
                Resize.apply(taps[axis]!, axis: axis, shape: current, from: source, into: target,
                             extrapolation: extrapolationValue)
                current[axis] = taps[axis]!.outside.count
                source = UnsafePointer(target)
            }
        }
    }

    /// Resamples axis `axis` of a tensor of `shape`, viewed as [outer, length, inner].
    static func apply(_ taps: Taps, axis: Int, shape: [Int], from x: UnsafePointer<Float>,
                      into y: UnsafeMutablePointer<Float>, extrapolation: Float) {
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        let (length, outputs, n) = (shape[axis], taps.outside.count, taps.count)
        taps.indices.withUnsafeBufferPointer { indices in
            taps.weights.withUnsafeBufferPointer { weights in
                parallelFor(outer * outputs, cost: n * inner) { range in
                    for row in range {
                        let (o, j) = row.quotientAndRemainder(dividingBy: outputs)
                        let out = y + row * inner
                        if taps.outside[j] {
                            out.update(repeating: extrapolation, count: inner)
                            continue
                        }
                        let base = x + o * length * inner
                        if inner == 1 {
                            var sum: Float = 0
                            for t in 0..<n { sum += weights[j * n + t] * base[indices[j * n + t]] }
                            out.pointee = sum
                        } else {
                            out.update(repeating: 0, count: inner)
                            for t in 0..<n {
                                let (w, source) = (weights[j * n + t], base + indices[j * n + t] * inner)
                                if w == 0 { continue }
                                for i in 0..<inner { out[i] += w * source[i] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The transpose of each axis's resampling, last axis first.
    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let shape = inputs[0].shape
        let taps = taps(for: shape)
        var shapes = [shape]
        for axis in shape.indices {
            var s = shapes.last!
            if let t = taps[axis] { s[axis] = t.outside.count }
            shapes.append(s)
        }
        var gradient = outputGradient
        for axis in shape.indices.reversed() {
            guard let t = taps[axis] else { continue }
            let inShape = shapes[axis]
            let outer = inShape[..<axis].reduce(1, *), inner = inShape[(axis + 1)...].reduce(1, *)
            let (length, outputs, n) = (inShape[axis], t.outside.count, t.count)
            var dx = Tensor(zeros: inShape)
            dx.scalars.withUnsafeMutableBufferPointer { d in
                gradient.scalars.withUnsafeBufferPointer { g in
                    // Split by the outer index: each writes only its own slab of dx.
                    parallelFor(outer, cost: outputs * n * inner) { range in
                        for o in range {
                            for j in 0..<outputs where !t.outside[j] {
                                let source = g.baseAddress! + (o * outputs + j) * inner
                                for k in 0..<n {
                                    let w = t.weights[j * n + k]
                                    if w == 0 { continue }
                                    let target = d.baseAddress! + (o * length + t.indices[j * n + k]) * inner
                                    for i in 0..<inner { target[i] += w * source[i] }
                                }
                            }
                        }
                    }
                }
            }
            gradient = dx
        }
        return [gradient]
    }
}
