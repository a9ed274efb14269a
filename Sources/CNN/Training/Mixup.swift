import Foundation

/// Mixup (Zhang et al. 2018) as fastai's `MixUp` callback runs it: each training batch is
/// blended with a shuffled copy of itself, λ x + (1 − λ) x', and the loss is the same blend of
/// the two labels' losses. λ is drawn from Beta(α, α) and taken as max(λ, 1 − λ), so that every
/// mixed image stays nearer its own label. With few images it trains on the segments between
/// them rather than on the images alone.
public struct Mixup: Sendable {
    public var alpha: Float

    public init(alpha: Float) {
        precondition(alpha > 0, "mixup's alpha must be positive")
        self.alpha = alpha
    }

    public struct Mixed: Sendable {
        public var images: Tensor
        public var lambda: Float
        /// The sample each one was blended with.
        public var partners: [Int]

        public init(images: Tensor, lambda: Float, partners: [Int]) {
            self.images = images
            self.lambda = lambda
            self.partners = partners
        }
    }

    /// The blended images, λ and each sample's partner.
    public func mix(_ batch: LabeledImages, random: inout RandomSource) -> Mixed {
        let lambda = random.nextBeta(alpha, alpha)
        let kept = max(lambda, 1 - lambda)
        let partners = Array(0..<batch.count).shuffled(using: &random)
        let size = batch.sampleShape.reduce(1, *)
        var images = batch.images
        batch.images.scalars.withUnsafeBufferPointer { x in
            images.scalars.withUnsafeMutableBufferPointer { out in
                for (s, partner) in partners.enumerated() {
                    for i in 0..<size { out[s * size + i] = kept * x[s * size + i] + (1 - kept) * x[partner * size + i] }
                }
            }
        }
        return Mixed(images: images, lambda: kept, partners: partners)
    }

    /// λ × the loss on the labels + (1 − λ) × the loss on the partners' labels, and its gradient.
    public static func loss(logits: Tensor, labels: [Int], mixed: Mixed, labelSmoothing: Float = 0) -> (loss: Float, gradient: Tensor) {
        let own = softmaxCrossEntropy(logits: logits, labels: labels, labelSmoothing: labelSmoothing)
        let other = softmaxCrossEntropy(logits: logits, labels: mixed.partners.map { labels[$0] }, labelSmoothing: labelSmoothing)
        var gradient = own.gradient
        for i in gradient.scalars.indices {
            gradient.scalars[i] = mixed.lambda * own.gradient.scalars[i] + (1 - mixed.lambda) * other.gradient.scalars[i]
        }
        return (mixed.lambda * own.loss + (1 - mixed.lambda) * other.loss, gradient)
    }
}

extension RandomSource {
    /// Beta(a, b) as X / (X + Y) of two Gamma draws.
    public mutating func nextBeta(_ a: Float, _ b: Float) -> Float {
        let x = nextGamma(a), y = nextGamma(b)
        return x + y > 0 ? x / (x + y) : 0.5
    }

    /// Gamma(shape, 1) by Marsaglia and Tsang (2000); a shape below one draws Gamma(shape + 1)
    /// and scales it by U^(1/shape).
    public mutating func nextGamma(_ shape: Float) -> Float {
        if shape < 1 {
            return nextGamma(shape + 1) * pow(max(nextUniform(), 1e-7), 1 / shape)
        }
        let d = shape - 1 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            let x = nextNormal()
            let v = 1 + c * x
            guard v > 0 else { continue }
            let v3 = v * v * v
            let u = max(nextUniform(), 1e-7)
            if log(u) < 0.5 * x * x + d - d * v3 + d * log(v3) { return d * v3 }
        }
    }
}
