/// Conv and pooling. The engine's windows are 2-D; 1-D ones run as 2-D windows of height 1.
extension ONNXOperatorSet {
    static let convolution: [String: Converter] = [
        "Conv": conv,
        "MaxPool": maxPool,
        "AveragePool": averagePool,
        "GlobalAveragePool": { r, b in [try b.apply(GlobalAvgPool(), [b.input(r, 0)], for: r)] },
        "GlobalMaxPool": { r, b in [try b.apply(GlobalMaxPool(), [b.input(r, 0)], for: r)] },
    ]

    /// Window attributes resolved to the engine's 2-D form.
    private struct Window2D {
        var kernel: (Int, Int)
        var stride: (Int, Int)
        var dilation: (Int, Int)
        var padding: Padding
    }

    private static func window(_ r: ONNXNodeReader, kernel: [Int], spatialRank: Int) throws -> Window2D {
        func pair(_ values: [Int]?, default value: Int, _ name: String) throws -> (Int, Int) {
            let values = values ?? [Int](repeating: value, count: spatialRank)
            guard values.count == spatialRank else { throw r.error("\(name) has \(values.count) entries for \(spatialRank) spatial axes") }
            return spatialRank == 1 ? (1, values[0]) : (values[0], values[1])
        }
        let padding: Padding
        switch r.string("auto_pad") ?? "NOTSET" {
        case "NOTSET", "":
            let pads = r.ints("pads") ?? [Int](repeating: 0, count: 2 * spatialRank)
            guard pads.count == 2 * spatialRank, pads.allSatisfy({ $0 >= 0 }) else { throw r.error("invalid pads \(pads)") }
            padding = spatialRank == 1
                ? .explicit(top: 0, left: pads[0], bottom: 0, right: pads[1])
                : .explicit(top: pads[0], left: pads[1], bottom: pads[2], right: pads[3])
        case "SAME_UPPER": padding = .same(lower: false)
        case "SAME_LOWER": padding = .same(lower: true)
        case "VALID": padding = .valid
        case let other: throw r.error("unknown auto_pad '\(other)'")
        }
        return Window2D(kernel: try pair(kernel, default: 1, "kernel_shape"),
                        stride: try pair(r.ints("strides"), default: 1, "strides"),
                        dilation: try pair(r.ints("dilations"), default: 1, "dilations"), padding: padding)
    }

    /// Runs `body` on a 4-D view of the input: 1-D inputs [N, C, L] gain a height axis of 1,
    /// which the result loses again.
    private static func spatial2D(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder,
                                  _ body: (ONNXValue, Int) throws -> ONNXValue) throws -> ONNXValue {
        let x = try b.input(r, 0)
        let spatialRank = x.shape.count - 2
        switch spatialRank {
        case 2:
            return try body(x, 2)
        case 1:
            let lifted = try b.reshape(x, to: [x.shape[0], x.shape[1], 1, x.shape[2]], keepsLeadingAxis: true,
                                       for: r, suffix: "/as2d")
            let y = try body(lifted, 1)
            return try b.reshape(y, to: [y.shape[0], y.shape[1], y.shape[3]], keepsLeadingAxis: true, for: r, suffix: "/as1d")
        default:
            throw r.error("input of rank \(x.shape.count): only 1-D and 2-D windows are supported")
        }
    }

    private static func conv(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        guard let w = try b.constantInput(r, 1, "the weight") else { throw r.error("the weight is missing") }
        let bias = try b.constantInput(r, 2, "the bias")
        let groups = try r.int("group", default: 1)
        return [try spatial2D(r, b) { x, spatialRank in
            guard w.shape.count == spatialRank + 2 else { throw r.error("weight shape \(w.shape) does not fit a \(spatialRank)-D convolution") }
            let window = try window(r, kernel: Array(w.shape.dropFirst(2)), spatialRank: spatialRank)
            var weight = w.tensor
            if spatialRank == 1 { weight = weight.reshaped(to: [w.shape[0], w.shape[1], 1, w.shape[2]]) }
            guard groups > 0, w.shape[0] % groups == 0 else { throw r.error("group \(groups) does not divide \(w.shape[0]) output channels") }
            if let bias, bias.count != w.shape[0] { throw r.error("bias has \(bias.count) values for \(w.shape[0]) output channels") }
            let op = Conv2D(weight: b.parameter(w.name, weight),
                            bias: bias.map { b.parameter($0.name, $0.tensor.reshaped(to: [$0.count])) },
                            stride: window.stride, dilation: window.dilation, padding: window.padding, groups: groups)
            return try b.apply(op, [x], for: r)
        }]
    }

    private static func kernel(_ r: ONNXNodeReader) throws -> [Int] {
        guard let kernel = r.ints("kernel_shape"), kernel.allSatisfy({ $0 > 0 }) else {
            throw r.error("kernel_shape is missing or invalid")
        }
        return kernel
    }

    private static func maxPool(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        guard r.usedOutputs == [0] else { throw r.error("the Indices output is not supported") }
        let kernel = try kernel(r)
        let ceil = try r.int("ceil_mode", default: 0) == 1
        return [try spatial2D(r, b) { x, spatialRank in
            let w = try window(r, kernel: kernel, spatialRank: spatialRank)
            return try b.apply(MaxPool2D(kernel: w.kernel, stride: w.stride, dilation: w.dilation,
                                         padding: w.padding, ceilMode: ceil), [x], for: r)
        }]
    }

    private static func averagePool(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        let kernel = try kernel(r)
        let ceil = try r.int("ceil_mode", default: 0) == 1
        let includePad = try r.int("count_include_pad", default: 0) == 1
        return [try spatial2D(r, b) { x, spatialRank in
            let w = try window(r, kernel: kernel, spatialRank: spatialRank)
            guard w.dilation == (1, 1) else { throw r.error("dilated average pooling is not supported") }
            return try b.apply(AvgPool2D(kernel: w.kernel, stride: w.stride, padding: w.padding, ceilMode: ceil,
                                         countIncludePad: includePad), [x], for: r)
        }]
    }
}
