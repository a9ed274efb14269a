import Foundation

/// Updates parameters from their accumulated gradients, group by group.
public protocol Optimizer: AnyObject {
    var groups: [ParameterGroup] { get }
    /// Applies one update at base learning rate `learningRate` and clears the gradients.
    func step(learningRate: Float)
}

extension Optimizer {
    public func zeroGradients() {
        for group in groups { for p in group.parameters { p.zeroGradient() } }
    }

    /// Each group that trains with its learning rate and the parameters it steps: a Parameter
    /// listed twice (in two groups built per node, or twice in one) is stepped once, with the
    /// first group's rate, as its gradient already sums every use.
    func steppedGroups(learningRate: Float) -> [(learningRate: Float, parameters: [Parameter])] {
        var seen = Set<ObjectIdentifier>()
        return groups.filter { !$0.isFrozen }.map { group in
            (learningRate * group.learningRateScale,
             group.parameters.filter { $0.isTrainable && seen.insert(ObjectIdentifier($0)).inserted })
        }
    }
}

/// SGD with momentum (PyTorch's form: v = mu v + g + wd w; w -= lr v).
public final class SGD: Optimizer {
    public let groups: [ParameterGroup]
    public let momentum: Float
    public let weightDecay: Float
    private var velocity: [ObjectIdentifier: [Float]] = [:]

    public init(groups: [ParameterGroup], momentum: Float = 0.9, weightDecay: Float = 0) {
        self.groups = groups
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    public func step(learningRate: Float) {
        for (lr, parameters) in steppedGroups(learningRate: learningRate) {
            for p in parameters {
                // Taken out of the dictionary while updated, so that the array is not copied.
                var v = velocity.removeValue(forKey: ObjectIdentifier(p)) ?? [Float](repeating: 0, count: p.value.count)
                p.value.scalars.withUnsafeMutableBufferPointer { wb in
                    p.gradient.scalars.withUnsafeBufferPointer { gb in
                        v.withUnsafeMutableBufferPointer { vb in
                            let (w, g, v) = (wb.baseAddress!, gb.baseAddress!, vb.baseAddress!)
                            parallelFor(wb.count, cost: 4, minimumChunk: 4096) { range in
                                for i in range {
                                    v[i] = momentum * v[i] + g[i] + weightDecay * w[i]
                                    w[i] -= lr * v[i]
                                }
                            }
                        }
                    }
                }
                velocity[ObjectIdentifier(p)] = v
            }
        }
        zeroGradients()
    }
}

/// AdamW (Loshchilov and Hutter): Adam with weight decay applied to the weights directly.
public final class AdamW: Optimizer {
    public let groups: [ParameterGroup]
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public let weightDecay: Float
    private var moments: [ObjectIdentifier: (m: [Float], v: [Float], t: Int)] = [:]

    public init(groups: [ParameterGroup], beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0.01) {
        self.groups = groups
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    public func step(learningRate: Float) {
        for (lr, parameters) in steppedGroups(learningRate: learningRate) {
            for p in parameters {
                // Taken out of the dictionary while updated, so that the arrays are not copied.
                var (m, v, t) = moments.removeValue(forKey: ObjectIdentifier(p))
                    ?? ([Float](repeating: 0, count: p.value.count), [Float](repeating: 0, count: p.value.count), 0)
                t += 1
                let c1 = 1 - pow(beta1, Float(t)), c2 = 1 - pow(beta2, Float(t))
                p.value.scalars.withUnsafeMutableBufferPointer { wb in
                    p.gradient.scalars.withUnsafeBufferPointer { gb in
                        m.withUnsafeMutableBufferPointer { mb in
                            v.withUnsafeMutableBufferPointer { vb in
                                let (w, g, m, v) = (wb.baseAddress!, gb.baseAddress!, mb.baseAddress!, vb.baseAddress!)
                                parallelFor(wb.count, cost: 12, minimumChunk: 4096) { range in
                                    for i in range {
                                        m[i] = beta1 * m[i] + (1 - beta1) * g[i]
                                        v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
                                        w[i] -= lr * weightDecay * w[i]
                                        w[i] -= lr * (m[i] / c1) / ((v[i] / c2).squareRoot() + epsilon)
                                    }
                                }
                            }
                        }
                    }
                }
                moments[ObjectIdentifier(p)] = (m, v, t)
            }
        }
        zeroGradients()
    }
}
