/// Layer normalization (ONNX LayerNormalization, PyTorch's `layer_norm`): each row, the axes
/// from `axis` to the last, is normalized by its own mean and biased variance, then scaled and
/// shifted elementwise: y = (x - mean) / sqrt(var + epsilon) * scale + shift.
///
/// ConvNeXt normalizes channels this way, channels-last between two Transposes. The statistics
/// are per row of the sample, so training and inference compute the same function.
public final class LayerNorm: Operator {
    public let kind = "layernorm"
    /// One value per element of a row.
    public let scale: Parameter
    public let shift: Parameter?
    public let axis: Int
    public let epsilon: Float

    public var parameters: [Parameter] { [scale] + (shift.map { [$0] } ?? []) }
    public var rowSize: Int { scale.value.count }

    public init(scale: Parameter, shift: Parameter?, axis: Int = -1, epsilon: Float = 1e-5) {
        self.scale = scale
        self.shift = shift
        self.axis = axis
        self.epsilon = epsilon
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1 else { throw ShapeError("expects one input, got \(inputShapes.count)") }
        let shape = inputShapes[0]
        guard axis >= -shape.count, axis < shape.count else { throw ShapeError("axis \(axis) is out of range for rank \(shape.count)") }
        let row = shape[(axis < 0 ? axis + shape.count : axis)...].reduce(1, *)
        guard row == rowSize, shift.map({ $0.value.count == row }) ?? true else {
            throw ShapeError("rows of \(row) elements, scale and shift of \(rowSize) and \(shift?.value.count ?? rowSize)")
        }
        return shape
    }

    /// Mean and 1 / sqrt(var + epsilon) of a row, in double precision: the variance is a
    /// difference of nearly equal sums when the mean is large against the spread.
    @inline(__always)
    private func statistics(_ x: UnsafePointer<Float>, count: Int) -> (mean: Float, inverseDeviation: Float) {
        var sum: Double = 0
        for i in 0..<count { sum += Double(x[i]) }
        let mean = sum / Double(count)
        var squares: Double = 0
        for i in 0..<count { squares += (Double(x[i]) - mean) * (Double(x[i]) - mean) }
        return (Float(mean), Float(1 / (squares / Double(count) + Double(epsilon)).squareRoot()))
    }

    public func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        let d = rowSize
        let rows = inputs[0].count / max(d, 1)
        let (x, y) = (UnsafePointer(inputs[0].scalars), output.scalars)
        scale.value.scalars.withUnsafeBufferPointer { g in
            let b = shift?.value.scalars
            parallelFor(rows, cost: 4 * d) { range in
                for r in range {
                    let (xr, yr) = (x + r * d, y + r * d)
                    let (mean, inverse) = statistics(xr, count: d)
                    if let b {
                        for i in 0..<d { yr[i] = (xr[i] - mean) * inverse * g[i] + b[i] }
                    } else {
                        for i in 0..<d { yr[i] = (xr[i] - mean) * inverse * g[i] }
                    }
                }
            }
        }
    }

    /// With x^ the normalized row and h = dy * scale: dx = (h - mean(h) - x^ mean(h x^)) / sigma,
    /// dscale = sum over rows of dy x^, dshift = sum over rows of dy. Rows split across the
    /// threads; the parameter sums then run over rows a vector of elements at a time.
    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let d = rowSize
        let rows = inputs[0].count / max(d, 1)
        let trainsScale = context.computesParameterGradients && scale.isTrainable
        let trainsShift = context.computesParameterGradients && (shift?.isTrainable ?? false)
        var means = [Float](repeating: 0, count: rows), inverses = [Float](repeating: 0, count: rows)
        var dx = context.needsInputGradients ? Tensor(zeros: inputs[0].shape) : nil
        inputs[0].scalars.withUnsafeBufferPointer { xb in
            outputGradient.scalars.withUnsafeBufferPointer { gb in
                scale.value.scalars.withUnsafeBufferPointer { sb in
                    means.withUnsafeMutableBufferPointer { mb in
                        inverses.withUnsafeMutableBufferPointer { ib in
                            let (x, gy, s, m, inv) = (xb.baseAddress!, gb.baseAddress!, sb.baseAddress!, mb.baseAddress!, ib.baseAddress!)
                            withOptionalMutablePointer(&dx) { dr in
                                parallelFor(rows, cost: 6 * d) { range in
                                    for r in range {
                                        let (xr, gr) = (x + r * d, gy + r * d)
                                        (m[r], inv[r]) = statistics(xr, count: d)
                                        guard let dr else { continue }
                                        var meanH: Float = 0, meanHX: Float = 0
                                        for i in 0..<d {
                                            let h = gr[i] * s[i]
                                            meanH += h
                                            meanHX += h * (xr[i] - m[r]) * inv[r]
                                        }
                                        (meanH, meanHX) = (meanH / Float(d), meanHX / Float(d))
                                        let out = dr + r * d
                                        for i in 0..<d {
                                            out[i] = (gr[i] * s[i] - meanH - (xr[i] - m[r]) * inv[r] * meanHX) * inv[r]
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if trainsScale || trainsShift {
            var dScale = [Float](repeating: 0, count: d), dShift = [Float](repeating: 0, count: d)
            inputs[0].scalars.withUnsafeBufferPointer { x in
                outputGradient.scalars.withUnsafeBufferPointer { g in
                    for r in 0..<rows {
                        let (mean, inverse) = (means[r], inverses[r])
                        for i in 0..<d {
                            let gy = g[r * d + i]
                            dScale[i] += gy * (x[r * d + i] - mean) * inverse
                            dShift[i] += gy
                        }
                    }
                }
            }
            if trainsScale { scale.gradient.add(Tensor(shape: scale.gradient.shape, scalars: dScale)) }
            if trainsShift, let shift { shift.gradient.add(Tensor(shape: shift.gradient.shape, scalars: dShift)) }
        }
        return [dx]
    }
}

/// Runs `body` with a pointer to the tensor's scalars, or nil when there is no tensor.
private func withOptionalMutablePointer<R>(_ tensor: inout Tensor?, _ body: (UnsafeMutablePointer<Float>?) -> R) -> R {
    guard tensor != nil else { return body(nil) }
    return tensor!.scalars.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
}
