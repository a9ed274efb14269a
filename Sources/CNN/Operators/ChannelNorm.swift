/// Layer normalization over the channel axis of an NCHW tensor: at each position of each
/// sample, the C channel values are normalized by their own mean and biased variance, then
/// scaled and shifted per channel, y = (x - mean) / sqrt(var + epsilon) * scale[c] + shift[c].
///
/// ConvNeXt writes this as a Transpose to channels-last, a LayerNorm over the last axis and a
/// Transpose back; the inference optimizer (Graph+ChannelsFirst.swift) runs it here instead,
/// without the two copies. The statistics run a channel plane at a time across a block of
/// positions, so every pass is a vector loop over contiguous memory.
public final class ChannelNorm: Operator {
    public let kind = "channel_norm"
    public let scale: Parameter
    public let shift: Parameter?
    public let epsilon: Float

    public var parameters: [Parameter] { [scale] + (shift.map { [$0] } ?? []) }
    public var channels: Int { scale.value.count }

    public init(scale: Parameter, shift: Parameter?, epsilon: Float) {
        self.scale = scale
        self.shift = shift
        self.epsilon = epsilon
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1, inputShapes[0].count >= 2 else { throw ShapeError("expects one [N, C, ...] input") }
        guard inputShapes[0][1] == channels, shift.map({ $0.value.count == channels }) ?? true else {
            throw ShapeError("\(inputShapes[0][1]) channels, scale and shift of \(channels) and \(shift?.value.count ?? channels)")
        }
        return inputShapes[0]
    }

    /// Positions a block: the block's mean and inverse deviation (two floats a position) stay in
    /// L1 while each channel plane streams past them.
    private static let block = 512

    /// Mean and 1 / sqrt(var + epsilon) at `count` positions from `x`, channel planes `plane`
    /// apart: the mean first, then the squared deviations from it (no cancellation).
    private func statistics(_ x: UnsafePointer<Float>, plane: Int, count: Int,
                            mean: UnsafeMutablePointer<Float>, inverse: UnsafeMutablePointer<Float>) {
        let c = channels
        mean.update(repeating: 0, count: count)
        inverse.update(repeating: 0, count: count)
        for k in 0..<c {
            let row = x + k * plane
            for j in 0..<count { mean[j] += row[j] }
        }
        let scaleBy = 1 / Float(c)
        for j in 0..<count { mean[j] *= scaleBy }
        for k in 0..<c {
            let row = x + k * plane
            for j in 0..<count {
                let d = row[j] - mean[j]
                inverse[j] += d * d
            }
        }
        for j in 0..<count { inverse[j] = 1 / (inverse[j] * scaleBy + epsilon).squareRoot() }
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let shape = inputs[0].shape
        let (n, c, plane) = (shape[0], channels, shape.dropFirst(2).reduce(1, *))
        let blocks = (plane + Self.block - 1) / Self.block
        let (x, y) = (UnsafePointer(inputs[0].scalars), output.scalars)
        let (g, b) = (scale.value.scalars, shift?.value.scalars)
        parallelFor(n * blocks, cost: 5 * c * Swift.min(plane, Self.block)) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * Self.block) { buffer in
                let (mean, inverse) = (buffer.baseAddress!, buffer.baseAddress! + Self.block)
                for task in range {
                    let (s, q) = task.quotientAndRemainder(dividingBy: blocks)
                    let first = q * Self.block, count = Swift.min(Self.block, plane - first)
                    let (xs, ys) = (x + s * c * plane + first, y + s * c * plane + first)
                    statistics(xs, plane: plane, count: count, mean: mean, inverse: inverse)
                    for k in 0..<c {
                        let (xr, yr, gk, bk) = (xs + k * plane, ys + k * plane, g[k], b?[k] ?? 0)
                        for j in 0..<count { yr[j] = (xr[j] - mean[j]) * inverse[j] * gk + bk }
                    }
                }
            }
        }
    }

    /// With x^ the normalized values at a position and h = dy * scale: dx = (h - mean(h) -
    /// x^ mean(h x^)) / sigma over the channels; dscale = sum of dy x^, dshift = sum of dy over
    /// samples and positions.
    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let shape = inputs[0].shape
        let (n, c, plane) = (shape[0], channels, shape.dropFirst(2).reduce(1, *))
        let trainsScale = context.computesParameterGradients && scale.isTrainable
        let trainsShift = context.computesParameterGradients && (shift?.isTrainable ?? false)
        var dx = Tensor(zeros: shape)
        var dScale = [Float](repeating: 0, count: c), dShift = [Float](repeating: 0, count: c)
        let g = scale.value.scalars
        inputs[0].scalars.withUnsafeBufferPointer { xb in
            outputGradient.scalars.withUnsafeBufferPointer { gb in
                dx.scalars.withUnsafeMutableBufferPointer { db in
                    let (x, gy, d) = (xb.baseAddress!, gb.baseAddress!, db.baseAddress!)
                    var mean = [Float](repeating: 0, count: plane), inverse = [Float](repeating: 0, count: plane)
                    var meanH = [Float](repeating: 0, count: plane), meanHX = [Float](repeating: 0, count: plane)
                    for s in 0..<n {
                        let (xs, gs, ds) = (x + s * c * plane, gy + s * c * plane, d + s * c * plane)
                        statistics(xs, plane: plane, count: plane, mean: &mean, inverse: &inverse)
                        for j in 0..<plane { (meanH[j], meanHX[j]) = (0, 0) }
                        for k in 0..<c {
                            for j in 0..<plane {
                                let normalized = (xs[k * plane + j] - mean[j]) * inverse[j]
                                let dy = gs[k * plane + j]
                                let h = dy * g[k]
                                meanH[j] += h
                                meanHX[j] += h * normalized
                                dScale[k] += dy * normalized
                                dShift[k] += dy
                            }
                        }
                        for j in 0..<plane { (meanH[j], meanHX[j]) = (meanH[j] / Float(c), meanHX[j] / Float(c)) }
                        for k in 0..<c {
                            for j in 0..<plane {
                                let normalized = (xs[k * plane + j] - mean[j]) * inverse[j]
                                ds[k * plane + j] = (gs[k * plane + j] * g[k] - meanH[j] - normalized * meanHX[j]) * inverse[j]
                            }
                        }
                    }
                }
            }
        }
        if trainsScale { scale.gradient.add(Tensor(shape: scale.gradient.shape, scalars: dScale)) }
        if trainsShift, let shift { shift.gradient.add(Tensor(shape: shift.gradient.shape, scalars: dShift)) }
        return [context.needsInputGradients ? dx : nil]
    }
}
