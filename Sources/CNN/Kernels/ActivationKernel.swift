extension Activation {
    /// Writes activation(x[i] + bias) to y[i] for `count` scalars (x and y may alias).
    ///
    /// The switch is taken once per call rather than once per element, so the common cases
    /// compile to tight loops the optimizer can vectorize; the per-element `apply` kept them
    /// scalar and dominated the pointwise layers' time.
    func apply(_ x: UnsafePointer<Float>, bias: Float = 0, into y: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .relu:
            for i in 0..<count { let v = x[i] + bias; y[i] = v > 0 ? v : 0 }
        case let .clip(lo, hi):
            for i in 0..<count { y[i] = Swift.min(Swift.max(x[i] + bias, lo), hi) }
        default:
            for i in 0..<count { y[i] = apply(x[i] + bias) }
        }
    }
}
