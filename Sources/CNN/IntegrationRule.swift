import Foundation

/// How integrated gradients approximate the path integral from the baseline to the input: the
/// points along the path (alphas in [0, 1]) and each point's weight, as Captum's
/// `approximation_methods` defines them, so that the same `ig_method` gives the same sum.
public enum IntegrationRule: String, CaseIterable, Sendable {
    /// Gauss-Legendre quadrature (Captum's default): exact for polynomials of degree 2n - 1.
    case gaussLegendre = "gausslegendre"
    /// Points at 0, 1/(n-1), ..., 1; Captum weighs every point 1/n and the two ends 1/(2n).
    case riemannTrapezoid = "riemann_trapezoid"
    case riemannLeft = "riemann_left"
    case riemannRight = "riemann_right"
    case riemannMiddle = "riemann_middle"

    /// The fewest points the rule is defined for (Captum's Riemann rules need two).
    public var minimumSteps: Int { self == .gaussLegendre ? 1 : 2 }

    /// The `steps` points of the rule and their weights.
    public func points(_ steps: Int) -> (alphas: [Double], weights: [Double]) {
        precondition(steps >= minimumSteps, "\(rawValue) needs at least \(minimumSteps) steps")
        let n = Double(steps)
        // numpy's linspace(start, end, n): start + k * (end - start) / (n - 1).
        func linspace(_ start: Double, _ end: Double) -> [Double] {
            steps == 1 ? [start] : (0..<steps).map { start + Double($0) * (end - start) / (n - 1) }
        }
        var weights = [Double](repeating: 1 / n, count: steps)
        switch self {
        case .gaussLegendre:
            let (nodes, w) = IntegrationRule.gaussLegendreNodes(steps)
            return (nodes.map { 0.5 * (1 + $0) }, w.map { 0.5 * $0 })
        case .riemannTrapezoid:
            weights[0] /= 2
            weights[steps - 1] /= 2
            return (linspace(0, 1), weights)
        case .riemannLeft: return (linspace(0, 1 - 1 / n), weights)
        case .riemannRight: return (linspace(1 / n, 1), weights)
        case .riemannMiddle: return (linspace(1 / (2 * n), 1 - 1 / (2 * n)), weights)
        }
    }

    /// The roots of the Legendre polynomial P_n on [-1, 1], ascending, and their weights,
    /// by Newton's method from Tricomi's estimates (numpy's `leggauss` gives the same values).
    static func gaussLegendreNodes(_ n: Int) -> (nodes: [Double], weights: [Double]) {
        var nodes = [Double](repeating: 0, count: n), weights = nodes
        for i in 0..<((n + 1) / 2) {
            var z = cos(Double.pi * (Double(i) + 0.75) / (Double(n) + 0.5))
            var derivative = 0.0
            for _ in 0..<100 {
                // P_n(z) by the three-term recurrence, P_n'(z) from P_n and P_(n-1).
                var (p, previous) = (1.0, 0.0)
                for j in 1...n {
                    (p, previous) = ((Double(2 * j - 1) * z * p - Double(j - 1) * previous) / Double(j), p)
                }
                derivative = Double(n) * (z * p - previous) / (z * z - 1)
                let step = p / derivative
                z -= step
                if abs(step) < 1e-15 { break }
            }
            nodes[i] = -z
            nodes[n - 1 - i] = z
            weights[i] = 2 / ((1 - z * z) * derivative * derivative)
            weights[n - 1 - i] = weights[i]
        }
        return (nodes, weights)
    }
}
