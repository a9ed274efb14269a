import Foundation
import CNN

/// Seeded training-time augmentation on preprocessed NCHW batches: random resized crop,
/// horizontal flip and a small brightness shift.
public struct Augmentation: Sendable {
    /// The smallest crop as a fraction of the image area.
    public var minimumScale: Float = 0.6
    public var flipProbability: Float = 0.5
    /// The largest brightness shift, in preprocessed (normalized) units.
    public var brightness: Float = 0.1

    public init() {}

    public func apply(_ batch: inout LabeledImages, _ random: inout RandomSource) {
        let shape = batch.images.shape
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let plane = h * w
        var output = [Float](repeating: 0, count: batch.images.count)
        batch.images.scalars.withUnsafeBufferPointer { x in
            for s in 0..<n {
                let scale = minimumScale + (1 - minimumScale) * random.nextUniform()
                let ratio = exp(log(Float(3) / 4) + log(Float(16) / 9) * random.nextUniform())
                let cropW = min(Float(w), Float(w) * (scale * ratio).squareRoot())
                let cropH = min(Float(h), Float(h) * (scale / ratio).squareRoot())
                let x0 = (Float(w) - cropW) * random.nextUniform(), y0 = (Float(h) - cropH) * random.nextUniform()
                let flip = random.nextUniform() < flipProbability
                let shift = (2 * random.nextUniform() - 1) * brightness
                for ch in 0..<c {
                    let base = (s * c + ch) * plane
                    for y in 0..<h {
                        let sy = min(max(y0 + (Float(y) + 0.5) * cropH / Float(h) - 0.5, 0), Float(h - 1))
                        let y1 = Int(sy), y2 = min(y1 + 1, h - 1), fy = sy - Float(y1)
                        for xo in 0..<w {
                            let xi = flip ? w - 1 - xo : xo
                            let sx = min(max(x0 + (Float(xi) + 0.5) * cropW / Float(w) - 0.5, 0), Float(w - 1))
                            let x1 = Int(sx), x2 = min(x1 + 1, w - 1), fx = sx - Float(x1)
                            let top = x[base + y1 * w + x1] * (1 - fx) + x[base + y1 * w + x2] * fx
                            let bottom = x[base + y2 * w + x1] * (1 - fx) + x[base + y2 * w + x2] * fx
                            output[base + y * w + xo] = top * (1 - fy) + bottom * fy + shift
                        }
                    }
                }
            }
        }
        batch.images = Tensor(shape: shape, scalars: output)
    }
}
