extension Heatmap {
    /// How raw map values are brought to [0, 1] before coloring.
    public enum Normalization: Sendable, Equatable {
        /// The smallest value maps to 0, the largest to 1.
        case minMax
        /// Values are clipped to the given percentiles (0 to 100, interpolated linearly as
        /// numpy does) first, so a few extreme gradients do not wash out the rest.
        case percentile(lower: Double = 0, upper: Double = 99)
        /// A fixed range, the same for every map: `low` maps to 0 and `high` to 1, clipped, so that
        /// maps drawn with the same range compare.
        case range(low: Float, high: Float)
    }

    /// The map scaled to [0, 1]; a constant map becomes all zeros. Non-finite values are
    /// ignored when finding the range and become 0.
    public func normalized(_ normalization: Normalization = .percentile()) throws -> Heatmap {
        guard let (low, high) = try valueRange(normalization) else {
            return Heatmap(unchecked: width, height, [Float](repeating: 0, count: values.count))
        }
        let range = high - low
        let scaled = values.map { value -> Float in
            guard value.isFinite, range > 0 else { return 0 }
            return (min(max(value, low), high) - low) / range
        }
        return Heatmap(unchecked: width, height, scaled)
    }

    /// The values that `normalization` maps to 0 and 1; nil when the map has no finite value.
    public func valueRange(_ normalization: Normalization) throws -> (low: Float, high: Float)? {
        if case let .range(low, high) = normalization {
            guard low.isFinite, high.isFinite, low < high else {
                throw ImagingError(.invalidArgument, "a fixed range needs finite low < high, got \(low) and \(high)")
            }
            return (low, high)
        }
        let finite = values.filter(\.isFinite)
        guard !finite.isEmpty else { return nil }
        switch normalization {
        case .minMax:
            return (finite.min()!, finite.max()!)
        case .percentile(let lower, let upper):
            guard 0 <= lower, lower < upper, upper <= 100 else {
                throw ImagingError(.invalidArgument, "percentiles must satisfy 0 <= lower < upper <= 100, got \(lower) and \(upper)")
            }
            let sorted = finite.sorted()
            return (Self.percentile(sorted, lower), Self.percentile(sorted, upper))
        case .range(let low, let high):
            return (low, high)
        }
    }

    private static func percentile(_ sorted: [Float], _ percent: Double) -> Float {
        let position = percent / 100 * Double(sorted.count - 1)
        let index = Int(position)
        guard index + 1 < sorted.count else { return sorted[index] }
        let fraction = Float(position - Double(index))
        return sorted[index] + (sorted[index + 1] - sorted[index]) * fraction
    }
}
