import Foundation

/// The input at which integrated gradients start: the reference "absence of signal".
public enum SaliencyBaseline: String, CaseIterable, Sendable {
    /// The black image as the model's preprocessing gives it (not zero once normalized).
    case black
    /// The zero tensor after normalization (Captum's default baseline).
    case zero
    /// The input blurred (Gaussian, sigma 5 pixels at 224x224): structure gone, colors kept.
    case blur
    /// Uniform noise over each channel's range, seeded.
    case noise

    /// The baseline for `input` [1, C, H, W]. `black` is the black image preprocessed (zeros
    /// when nil); `channelRanges` the lowest and highest value each channel can take (the
    /// input's own range when nil).
    public func tensor(for input: Tensor, black: Tensor?, channelRanges: [ClosedRange<Float>]?, seed: UInt64) -> Tensor {
        switch self {
        case .black: return black ?? Tensor(zeros: input.shape)
        case .zero: return Tensor(zeros: input.shape)
        case .blur: return GaussianBlur.standard(forHeight: input.shape[2], width: input.shape[3]).apply(input)
        case .noise:
            let (c, plane) = (input.shape[1], input.shape[2] * input.shape[3])
            let whole = (input.scalars.min() ?? 0)...(input.scalars.max() ?? 0)
            var random = RandomSource(seed: seed)
            var out = Tensor(zeros: input.shape)
            for ch in 0..<c {
                let range = channelRanges.map { $0[min(ch, $0.count - 1)] } ?? whole
                for i in 0..<plane {
                    out.scalars[ch * plane + i] = range.lowerBound + random.nextUniform() * (range.upperBound - range.lowerBound)
                }
            }
            return out
        }
    }
}

/// A separable Gaussian blur of each channel plane, edges extended by their last pixel.
public struct GaussianBlur: Sendable {
    public let sigma: Double
    /// Taps on each side of the centre: ceil(3 sigma).
    public var radius: Int { Int((3 * sigma).rounded(.up)) }

    public init(sigma: Double) { self.sigma = sigma }

    /// Sigma 5 pixels at 224x224, scaled with the image's side (Petsiuk et al.'s insertion start).
    public static func standard(forHeight height: Int, width: Int) -> GaussianBlur {
        GaussianBlur(sigma: 5 * (Double(height * width)).squareRoot() / 224)
    }

    /// The normalized taps from -radius to radius.
    public var kernel: [Float] {
        let r = radius
        let raw = (-r...r).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = raw.reduce(0, +)
        return raw.map { Float($0 / total) }
    }

    /// Blurs every [H, W] plane of a tensor whose last two axes are height and width.
    public func apply(_ input: Tensor) -> Tensor {
        let (h, w) = (input.shape[input.rank - 2], input.shape[input.rank - 1])
        let planes = input.count / (h * w)
        let taps = kernel, r = radius
        var out = input
        var row = [Float](repeating: 0, count: max(h, w))
        for p in 0..<planes {
            let base = p * h * w
            for y in 0..<h {
                for x in 0..<w {
                    var sum: Float = 0
                    for t in -r...r { sum += taps[t + r] * input.scalars[base + y * w + min(max(x + t, 0), w - 1)] }
                    row[x] = sum
                }
                for x in 0..<w { out.scalars[base + y * w + x] = row[x] }
            }
            for x in 0..<w {
                for y in 0..<h {
                    var sum: Float = 0
                    for t in -r...r { sum += taps[t + r] * out.scalars[base + min(max(y + t, 0), h - 1) * w + x] }
                    row[y] = sum
                }
                for y in 0..<h { out.scalars[base + y * w + x] = row[y] }
            }
        }
        return out
    }
}
