/// Spearman's rank correlation: Pearson's correlation of the ranks, tied values sharing their
/// average rank (as `scipy.stats.spearmanr` computes it).
public enum RankCorrelation {
    /// nil when either sequence is constant (its ranks have no spread) or they are shorter than 2.
    public static func spearman(_ a: [Float], _ b: [Float]) -> Double? {
        precondition(a.count == b.count, "rank correlation compares sequences of the same length")
        guard a.count > 1 else { return nil }
        return pearson(ranks(a), ranks(b))
    }

    /// 1-based ranks, ties averaged.
    static func ranks(_ values: [Float]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: values.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && values[order[end + 1]] == values[order[start]] { end += 1 }
            let average = Double(start + end) / 2 + 1
            for k in start...end { ranks[order[k]] = average }
            start = end + 1
        }
        return ranks
    }

    static func pearson(_ x: [Double], _ y: [Double]) -> Double? {
        let n = Double(x.count)
        let (mx, my) = (x.reduce(0, +) / n, y.reduce(0, +) / n)
        var (sxy, sxx, syy) = (0.0, 0.0, 0.0)
        for i in x.indices {
            let (dx, dy) = (x[i] - mx, y[i] - my)
            sxy += dx * dy
            sxx += dx * dx
            syy += dy * dy
        }
        guard sxx > 0, syy > 0 else { return nil }
        return sxy / (sxx * syy).squareRoot()
    }
}
