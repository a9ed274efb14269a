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
    /// dscale = sum over rows of dy x^, dshift = sum over rows of dy.
    public func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                         context: BackwardContext) -> [Tensor?] {
        let d = rowSize
        let rows = inputs[0].count / max(d, 1)
        let trainsScale = context.computesParameterGradients && scale.isTrainable
        let trainsShift = context.computesParameterGradients && (shift?.isTrainable ?? false)
        var dx = context.needsInputGradients ? Tensor(zeros: inputs[0].shape) : nil
        var dScale = [Float](repeating: 0, count: trainsScale ? d : 0)
        inputs[0].scalars.withUnsafeBufferPointer { xb in
            outputGradient.scalars.withUnsafeBufferPointer { gb in
                scale.value.scalars.withUnsafeBufferPointer { sb in
                    let (x, gy, s) = (xb.baseAddress!, gb.baseAddress!, sb.baseAddress!)
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: d) { normalized in
                        for r in 0..<rows {
                            let (xr, gr) = (x + r * d, gy + r * d)
                            let (mean, inverse) = statistics(xr, count: d)
                            var meanH: Float = 0, meanHX: Float = 0
                            for i in 0..<d {
                                normalized[i] = (xr[i] - mean) * inverse
                                let h = gr[i] * s[i]
                                meanH += h
                                meanHX += h * normalized[i]
                            }
                            (meanH, meanHX) = (meanH / Float(d), meanHX / Float(d))
                            if dx != nil {
                                dx!.scalars.withUnsafeMutableBufferPointer { db in
                                    let dr = db.baseAddress! + r * d
                                    for i in 0..<d { dr[i] = (gr[i] * s[i] - meanH - normalized[i] * meanHX) * inverse }
                                }
                            }
                            if trainsScale { for i in 0..<d { dScale[i] += gr[i] * normalized[i] } }
                        }
                    }
                }
            }
        }
        if trainsScale { scale.gradient.add(Tensor(shape: scale.gradient.shape, scalars: dScale)) }
        if trainsShift, let shift {
            var dShift = [Float](repeating: 0, count: d)
            outputGradient.scalars.withUnsafeBufferPointer { g in
                for r in 0..<rows { for i in 0..<d { dShift[i] += g[r * d + i] } }
            }
            shift.gradient.add(Tensor(shape: shift.gradient.shape, scalars: dShift))
        }
        return [dx]
    }
}
