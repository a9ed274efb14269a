import Foundation

/// How faithful a saliency map is to the model it explains: the deletion and insertion metrics
/// of Petsiuk et al. (RISE, 2018). Deletion removes pixels in order of decreasing saliency
/// (replacing them with zero, after normalization) and follows the class's softmax
/// probability down; insertion starts from a blurred copy and restores pixels in the same
/// order. A faithful map deletes to a low area under the curve and inserts to a high one; the
/// same curves for a random order (a fixed seed) show what chance gives.
public struct FidelityCurves: Sendable, Equatable {
    /// Steps from no pixel to every pixel; each curve has `steps + 1` points.
    public var steps: Int
    public var deletion: [Float]
    public var insertion: [Float]
    public var randomDeletion: [Float]
    public var randomInsertion: [Float]

    /// The area under a curve over [0, 1] by the trapezoid rule.
    public static func area(_ curve: [Float]) -> Float {
        guard curve.count > 1 else { return curve.first ?? 0 }
        var sum: Float = 0
        for k in 1..<curve.count { sum += (curve[k - 1] + curve[k]) / 2 }
        return sum / Float(curve.count - 1)
    }
}

public struct FidelityScorer {
    public let computer: SaliencyComputer
    /// The steps when none are given: 224 pixels per step at 224x224, the step scaled with the input.
    public static let defaultSteps = 224

    public init(computer: SaliencyComputer) { self.computer = computer }

    /// The four curves for `input` [1, C, H, W], explaining `target`, with `map` [H, W] ordering
    /// the pixels (all channels of a pixel go together). Images run `batchSize` at a time
    /// through the engine's planned inference.
    public func curves(input: Tensor, map: Tensor, target: Int, steps: Int = FidelityScorer.defaultSteps,
                       batchSize: Int, seed: UInt64 = 0) throws -> FidelityCurves {
        let (c, h, w) = (input.shape[1], input.shape[2], input.shape[3])
        precondition(map.count == h * w, "the map orders the input's pixels")
        precondition(steps >= 1)
        // Decreasing saliency, ties by position, so that the order is reproducible.
        let order = (0..<(h * w)).sorted { map.scalars[$0] != map.scalars[$1] ? map.scalars[$0] > map.scalars[$1] : $0 < $1 }
        var random = RandomSource(seed: seed)
        var shuffled = Array(0..<(h * w))
        for i in stride(from: shuffled.count - 1, to: 0, by: -1) { shuffled.swapAt(i, Int(random.next() % UInt64(i + 1))) }
        let blurred = GaussianBlur.standard(forHeight: h, width: w).apply(input)
        let zero = Tensor(zeros: input.shape)
        // Pixels changed after step k: rounded to the nearest whole pixel.
        let changed = (0...steps).map { Int((Double($0) * Double(h * w) / Double(steps)).rounded()) }

        /// The curve of `start` with the first changed[k] pixels of `order` taken from `end`.
        func curve(from start: Tensor, to end: Tensor, order: [Int]) throws -> [Float] {
            var probabilities: [Float] = []
            for first in stride(from: 0, through: steps, by: batchSize) {
                let n = min(batchSize, steps + 1 - first)
                var batch = Tensor(unfilledShape: [n, c, h, w])
                batch.scalars.withUnsafeMutableBufferPointer { out in
                    for s in 0..<n {
                        let base = s * c * h * w
                        for i in 0..<(c * h * w) { out[base + i] = start.scalars[i] }
                        for p in order[0..<changed[first + s]] {
                            for ch in 0..<c { out[base + ch * h * w + p] = end.scalars[ch * h * w + p] }
                        }
                    }
                }
                probabilities += try self.probabilities(batch, target: target)
            }
            return probabilities
        }
        return FidelityCurves(steps: steps,
                              deletion: try curve(from: input, to: zero, order: order),
                              insertion: try curve(from: blurred, to: input, order: order),
                              randomDeletion: try curve(from: input, to: zero, order: shuffled),
                              randomInsertion: try curve(from: blurred, to: input, order: shuffled))
    }

    /// Softmax probability of `target` for each image of the batch.
    private func probabilities(_ batch: Tensor, target: Int) throws -> [Float] {
        let executor = computer.executor
        let output = try executor.infer(batch)
        let n = batch.shape[0], classes = output.count / n
        // A graph cut at the scores answers scores; one ending in a softmax answers probabilities.
        let scores = computer.scoreNode == executor.graph.outputName
        return (0..<n).map { s in
            let row = output.scalars[(s * classes)..<((s + 1) * classes)]
            guard scores else { return row[row.startIndex + target] }
            let top = row.max()!
            let total = row.reduce(Float(0)) { $0 + exp($1 - top) }
            return exp(row[row.startIndex + target] - top) / total
        }
    }
}
