extension Heatmap {
    /// How raw map values are brought to [0, 1] before coloring.
    public enum Normalization: Sendable, Equatable {
        /// The smallest value maps to 0, the largest to 1.
        case minMax
        /// Values are clipped to the given percentiles (0 to 100, interpolated linearly as
        /// numpy does) first, so a few extreme gradients do not wash out the rest.
        case percentile(lower: Double = 0, upper: Double = 99)
    }

    /// The map scaled to [0, 1]; a constant map becomes all zeros. Non-finite values are
    /// ignored when finding the range and become 0.
    public func normalized(_ normalization: Normalization = .percentile()) throws -> Heatmap {
        let finite = values.filter(\.isFinite)
        guard !finite.isEmpty else { return Heatmap(unchecked: width, height, [Float](repeating: 0, count: values.count)) }
        let (low, high): (Float, Float)
        switch normalization {
        case .minMax:
            (low, high) = (finite.min()!, finite.max()!)
        case .percentile(let lower, let upper):
            guard 0 <= lower, lower < upper, upper <= 100 else {
                throw ImagingError(.invalidArgument, "percentiles must satisfy 0 <= lower < upper <= 100, got \(lower) and \(upper)")
            }
            let sorted = finite.sorted()
            (low, high) = (Self.percentile(sorted, lower), Self.percentile(sorted, upper))
        }
        let range = high - low
        let scaled = values.map { value -> Float in
            guard value.isFinite, range > 0 else { return 0 }
            return (min(max(value, low), high) - low) / range
        }
        return Heatmap(unchecked: width, height, scaled)
    }

    private static func percentile(_ sorted: [Float], _ percent: Double) -> Float {
        let position = percent / 100 * Double(sorted.count - 1)
        let index = Int(position)
        guard index + 1 < sorted.count else { return sorted[index] }
        let fraction = Float(position - Double(index))
        return sorted[index] + (sorted[index + 1] - sorted[index]) * fraction
    }
}
