import CNN
import Foundation

/// ReLU decisions that float32 rounding may take either way, and whether they explain how far our
/// gradient is from the float64 one (scripts/torchvision_zoo.py, `undetermined_decisions`).
///
/// Each flip is the change of the float64 input gradient when one undetermined decision goes the
/// other way; the backward pass is linear in the decisions, so a set of flips adds up. Our
/// gradient is explained when some set of them, chosen greedily (the flip that brings the rest
/// nearest, while one does), leaves it within the tolerance of the float64 gradient: the engine
/// computed the exact gradient of the branch its own rounding chose, not an approximation of
/// the reference's branch.
struct UndeterminedDecisions {
    /// The float64 gradient [C, H, W] and the flips [F, C, H, W] as the export wrote them.
    let gradient: Tensor
    let flips: Tensor?

    init?(directory: URL, meta: TorchvisionZooTests.Meta) throws {
        guard meta.undetermined_relu != nil else { return nil }  // exported before they were measured
        gradient = try ONNXTensor(contentsOf: directory.appendingPathComponent("saliency_gradient_float64.pb")).tensor
        flips = (meta.flips ?? 0) > 0 ? try ONNXTensor(contentsOf: directory.appendingPathComponent("flips.pb")).tensor : nil
    }

    /// The flips taken (indices) and our gradient's largest difference from the float64 gradient
    /// with them applied, relative to its largest magnitude.
    func explain(_ ours: Tensor) -> (flipped: [Int], difference: Float) {
        precondition(ours.count == gradient.count)
        var residual = zip(ours.scalars, gradient.scalars).map { Double($0) - Double($1) }
        var flipped: [Int] = []
        let size = gradient.count
        if let flips {
            func squares(after flip: Int) -> Double {
                var sum = 0.0
                for i in 0..<size {
                    let r = residual[i] - Double(flips.scalars[flip * size + i])
                    sum += r * r
                }
                return sum
            }
            var current = residual.reduce(0) { $0 + $1 * $1 }
            while true {
                let remaining = (0..<flips.shape[0]).filter { !flipped.contains($0) }
                guard let best = remaining.map({ ($0, squares(after: $0)) }).min(by: { $0.1 < $1.1 }),
                      best.1 < current else { break }
                flipped.append(best.0)
                current = best.1
                for i in 0..<size { residual[i] -= Double(flips.scalars[best.0 * size + i]) }
            }
        }
        let scale = gradient.scalars.reduce(0) { Swift.max($0, abs($1)) }
        let largest = residual.reduce(0) { Swift.max($0, abs($1)) }
        return (flipped, Float(largest / Double(scale)))
    }
}
