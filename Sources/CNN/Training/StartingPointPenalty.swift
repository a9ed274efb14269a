/// L2-SP (Li, Grandvalet and Davoine, "Explicit inductive bias for transfer learning with
/// convolutional networks", ICML 2018): a penalty added to the training loss that pulls the
/// pretrained weights toward where fine-tuning started instead of toward zero, and decays the
/// new layers, which have no starting point worth keeping, toward zero:
///
///     Ω(w) = α/2 · Σ ||w_pretrained − w⁰||² + β/2 · Σ ||w_new||²
///
/// Decay toward zero shrinks what the base learned as readily as what fine-tuning adds; with
/// few images the pull toward the start keeps the features the new task cannot relearn. The
/// starting values are copied when the penalty is made, so it costs one copy of the
/// pretrained parameters.
public final class StartingPointPenalty {
    /// Each pretrained parameter with its starting values.
    public let anchored: [(parameter: Parameter, start: [Float])]
    public let fresh: [Parameter]
    public let alpha: Float
    public let beta: Float

    /// `pretrained` are pulled toward their values now with strength `alpha`, `fresh` toward
    /// zero with `beta`. A parameter listed twice counts once, as a pretrained one if it is both.
    public init(pretrained: [Parameter], alpha: Float, fresh: [Parameter], beta: Float) {
        var seen = Set<ObjectIdentifier>()
        anchored = pretrained.filter { seen.insert(ObjectIdentifier($0)).inserted }.map { ($0, $0.value.scalars) }
        self.fresh = fresh.filter { seen.insert(ObjectIdentifier($0)).inserted }
        self.alpha = alpha
        self.beta = beta
    }

    /// Ω at the parameters' current values (summed in Double, as it is reported rather than differentiated).
    public var value: Float {
        var anchoredSum: Double = 0, freshSum: Double = 0
        for (parameter, start) in anchored {
            parameter.value.scalars.withUnsafeBufferPointer { w in
                for i in w.indices { let d = Double(w[i] - start[i]); anchoredSum += d * d }
            }
        }
        for parameter in fresh {
            parameter.value.scalars.withUnsafeBufferPointer { w in
                for x in w { freshSum += Double(x) * Double(x) }
            }
        }
        return Float(Double(alpha) / 2 * anchoredSum + Double(beta) / 2 * freshSum)
    }

    /// Adds ∂Ω/∂w (α(w − w⁰) and βw) to the gradient of every trainable parameter, so that the
    /// optimizer steps on the penalized loss; frozen parameters are skipped as the optimizer skips them.
    public func accumulateGradients() {
        for (parameter, start) in anchored where parameter.isTrainable {
            add(alpha, parameter, start)
        }
        for parameter in fresh where parameter.isTrainable {
            add(beta, parameter, nil)
        }
    }

    private func add(_ strength: Float, _ parameter: Parameter, _ start: [Float]?) {
        guard strength != 0 else { return }
        parameter.value.scalars.withUnsafeBufferPointer { w in
            parameter.gradient.scalars.withUnsafeMutableBufferPointer { g in
                if let start {
                    for i in g.indices { g[i] += strength * (w[i] - start[i]) }
                } else {
                    for i in g.indices { g[i] += strength * w[i] }
                }
            }
        }
    }
}
