import Foundation

/// A learning rate for every step of a run.
public enum Schedule: String, Codable, Sendable, CaseIterable {
    case constant
    /// Cosine annealing from the peak to zero.
    case cosine
    /// Smith's one-cycle as fastai and PyTorch run it: cosine warm-up from peak/25 over the
    /// first 30% of steps, then cosine annealing to peak/(25 * 10^4).
    case oneCycle = "one_cycle"

    public func learningRate(peak: Float, step: Int, totalSteps: Int) -> Float {
        let t = Float(step) / Float(max(totalSteps - 1, 1))
        func cosineBetween(_ a: Float, _ b: Float, _ x: Float) -> Float { b + (a - b) * (1 + cos(.pi * x)) / 2 }
        switch self {
        case .constant: return peak
        case .cosine: return cosineBetween(peak, 0, t)
        case .oneCycle:
            let warm: Float = 0.3
            let initial = peak / 25, final = initial / 1e4
            return t < warm ? cosineBetween(initial, peak, t / warm) : cosineBetween(peak, final, (t - warm) / (1 - warm))
        }
    }
}
