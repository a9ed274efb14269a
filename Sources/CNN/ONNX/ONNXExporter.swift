import Foundation
import SwiftProtobuf

/// Writes engine graphs as ONNX models (opset 17), weights included, so a native or
/// fine-tuned model runs in onnxruntime or any other ONNX backend.
public enum ONNXExporter {
    public static let opset = 17

    public static func export(_ graph: Graph) throws -> Data {
        var writer = try ONNXExportWriter(graph: graph)
        for node in graph.nodes { try writer.emit(node) }
        var model = Onnx_ModelProto()
        model.irVersion = 8
        model.producerName = "salient"
        var opset = Onnx_OperatorSetIdProto()
        opset.version = Int64(self.opset)
        model.opsetImport = [opset]
        model.graph = try writer.finish()
        return try model.serializedData()
    }
}

/// Collects the ONNX nodes and initializers of one export.
struct ONNXExportWriter {
    let graph: Graph
    private var proto = Onnx_GraphProto()
    private var usedNames: Set<String>
    private var parameterNames: [ObjectIdentifier: String] = [:]
    private let shapes: [String: [Int]]

    init(graph: Graph) throws {
        self.graph = graph
        usedNames = Set([graph.inputName] + graph.nodes.map(\.name))
        shapes = try graph.shapes(batch: 1)
        proto.name = graph.name
        proto.input = [Self.valueInfo(graph.inputName, shape: [nil] + graph.inputShape)]
    }

    func finish() throws -> Onnx_GraphProto {
        var proto = proto
        // Dimensions that follow the batch size are written as the symbol N.
        let other = try graph.shapes(batch: 2)[graph.outputName] ?? []
        let shape = (shapes[graph.outputName] ?? []).enumerated().map { i, d in i < other.count && other[i] != d ? nil : d }
        proto.output = [Self.valueInfo(graph.outputName, shape: shape)]
        return proto
    }

    /// A float tensor's declaration; nil dimensions are the batch symbol N.
    private static func valueInfo(_ name: String, shape: [Int?]) -> Onnx_ValueInfoProto {
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensorType.shape.dim = shape.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let d { dim.dimValue = Int64(d) } else { dim.dimParam = "N" }
            return dim
        }
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type.tensorType = tensorType
        return info
    }

    private mutating func uniqueName(_ base: String) -> String {
        var name = base
        var n = 1
        while !usedNames.insert(name).inserted { n += 1; name = "\(base)_\(n)" }
        return name
    }

    /// An initializer holding `tensor`; returns its name.
    private mutating func initializer(_ base: String, _ tensor: ONNXTensor) -> String {
        let name = uniqueName(base)
        var t = tensor
        t.name = name
        proto.initializer.append(t.proto)
        return name
    }

    private mutating func initializer(_ base: String, floats tensor: Tensor) -> String {
        initializer(base, ONNXTensor(tensor))
    }

    private mutating func initializer(_ base: String, ints: [Int]) -> String {
        initializer(base, ONNXTensor(shape: [ints.count], elements: .int64(ints.map { Int64($0) })))
    }

    /// Parameters shared by several operators are written once.
    private mutating func initializer(_ parameter: Parameter) -> String {
        if let name = parameterNames[ObjectIdentifier(parameter)] { return name }
        let name = initializer(parameter.name.isEmpty ? "weight" : parameter.name, floats: parameter.value)
        parameterNames[ObjectIdentifier(parameter)] = name
        return name
    }

    private mutating func add(_ type: String, _ inputs: [String], _ output: String, _ attributes: [Onnx_AttributeProto] = []) {
        var node = Onnx_NodeProto()
        node.opType = type
        node.name = output
        node.input = inputs
        node.output = [output]
        node.attribute = attributes
        proto.node.append(node)
    }

    mutating func emit(_ node: Node) throws {
        let op = node.op
        let x = node.inputs.first ?? ""
        let out = node.name
        switch op {
        case let conv as Conv2D:
            // A residual fused for inference is an Add after the Conv again.
            let residual = node.inputs.count > 1 ? node.inputs[1] : nil
            let sum = conv.activation == nil ? out : uniqueName("\(out)/preactivation")
            let target = residual == nil ? sum : uniqueName("\(out)/preresidual")
            var inputs = [x, initializer(conv.weight)]
            if let bias = conv.bias { inputs.append(initializer(bias)) }
            add("Conv", inputs, target, [.ints("kernel_shape", [conv.kernel.h, conv.kernel.w]),
                                         .ints("strides", [conv.stride.h, conv.stride.w]),
                                         .ints("dilations", [conv.dilation.h, conv.dilation.w]),
                                         .int("group", conv.groups)] + padding(conv.padding))
            if let residual { add("Add", [target, residual], sum) }
            if let activation = conv.activation { emit(activation, input: sum, output: out) }
        case let pool as MaxPool2D:
            add("MaxPool", [x], out, [.ints("kernel_shape", [pool.kernel.h, pool.kernel.w]),
                                      .ints("strides", [pool.stride.h, pool.stride.w]),
                                      .ints("dilations", [pool.dilation.h, pool.dilation.w]),
                                      .int("ceil_mode", pool.ceilMode ? 1 : 0)] + padding(pool.padding))
        case let pool as AvgPool2D:
            add("AveragePool", [x], out, [.ints("kernel_shape", [pool.kernel.h, pool.kernel.w]),
                                          .ints("strides", [pool.stride.h, pool.stride.w]),
                                          .int("ceil_mode", pool.ceilMode ? 1 : 0),
                                          .int("count_include_pad", pool.countIncludePad ? 1 : 0)] + padding(pool.padding))
        case let block as SqueezeExcitation:
            let pooled = uniqueName("\(out)/pooled"), hidden = uniqueName("\(out)/hidden"), gate = uniqueName("\(out)/gate")
            add("GlobalAveragePool", [x], pooled)
            try emit(Node(name: hidden, op: block.reduce, inputs: [pooled]))
            try emit(Node(name: gate, op: block.expand, inputs: [hidden]))
            add("Mul", [x, gate], out)
        case is GlobalAvgPool: add("GlobalAveragePool", [x], out)
        case is GlobalMaxPool: add("GlobalMaxPool", [x], out)
        case let dense as Dense where dense.appliesToLastAxis:
            // PyTorch's Linear on more than two axes, as PyTorch exports it: MatMul, then Add.
            let product = dense.bias == nil && dense.activation == nil ? out : uniqueName("\(out)/matmul")
            add("MatMul", [x, initializer("\(dense.weight.name)/transposed", floats: dense.weight.value.transposedMatrix)], product)
            var sum = product
            if let bias = dense.bias {
                sum = dense.activation == nil ? out : uniqueName("\(out)/preactivation")
                add("Add", [product, initializer(bias)], sum)
            }
            if let activation = dense.activation { emit(activation, input: sum, output: out) }
        case let dense as Dense:
            // Dense flattens trailing axes itself; Gemm needs the matrix spelled out.
            var input = x
            if let shape = shapes[x], shape.count != 2 {
                input = uniqueName("\(out)/flatten")
                add("Flatten", [x], input, [.int("axis", 1)])
            }
            let target = dense.activation == nil ? out : uniqueName("\(out)/preactivation")
            var inputs = [input, initializer(dense.weight)]
            if let bias = dense.bias { inputs.append(initializer(bias)) }
            add("Gemm", inputs, target, [.int("transB", 1)])
            if let activation = dense.activation { emit(activation, input: target, output: out) }
        case let layer as ActivationLayer: emit(layer.activation, input: x, output: out)
        case let softmax as Softmax: add(softmax.isLog ? "LogSoftmax" : "Softmax", [x], out, [.int("axis", softmax.axis)])
        case let bn as BatchNorm:
            add("BatchNormalization", [x, initializer(bn.scale), initializer(bn.shift), initializer(bn.runningMean),
                                       initializer(bn.runningVariance)], out,
                [.float("epsilon", bn.epsilon), .float("momentum", 1 - bn.momentum)])
        case let dropout as Dropout:
            add("Dropout", [x, initializer("\(out)/ratio", floats: Tensor(shape: [], scalars: [dropout.rate]))], out)
        case let flatten as Flatten: add("Flatten", [x], out, [.int("axis", flatten.axis)])
        case let reshape as Reshape: add("Reshape", [x, initializer("\(out)/shape", ints: reshape.target)], out)
        case let transpose as Transpose: add("Transpose", [x], out, [.ints("perm", transpose.permutation)])
        case let elementwise as Elementwise:
            let type: String
            switch elementwise.operation {
            case .add: type = node.inputs.count == 2 ? "Add" : "Sum"
            case .sub: type = "Sub"
            case .mul: type = "Mul"
            case .div: type = "Div"
            }
            add(type, node.inputs, out)
        case let concat as Concat: add("Concat", node.inputs, out, [.int("axis", concat.axis)])
        case let lrn as LRN:
            add("LRN", [x], out, [.int("size", lrn.size), .float("alpha", lrn.alpha), .float("beta", lrn.beta), .float("bias", lrn.bias)])
        case let pad as Pad:
            add("Pad", [x, initializer("\(out)/pads", ints: pad.before + pad.after),
                        initializer("\(out)/value", floats: Tensor(shape: [], scalars: [pad.value]))],
                out, [.string("mode", pad.mode.rawValue)])
        case let constant as Constant:
            // A weight stays an initializer; a literal is a Constant node, so that importing
            // the file again leaves it fixed.
            var tensor = ONNXTensor(constant.value)
            tensor.name = out
            if constant.isWeight {
                proto.initializer.append(tensor.proto)
            } else {
                add("Constant", [], out, [.tensor("value", tensor)])
            }
        case is MatMul: add("MatMul", node.inputs, out)
        case let norm as LayerNorm:
            // ONNX wants the scale and bias in the normalized shape.
            let shape = Array((shapes[x] ?? []).suffix(-norm.axis))
            var inputs = [x, initializer("\(norm.scale.name)", floats: norm.scale.value.reshaped(to: shape))]
            if let shift = norm.shift { inputs.append(initializer("\(shift.name)", floats: shift.value.reshaped(to: shape))) }
            add("LayerNormalization", inputs, out, [.int("axis", norm.axis), .float("epsilon", norm.epsilon)])
        case let norm as ChannelNorm:
            // The channels-last form PyTorch exports for ConvNeXt's LayerNorm2d.
            let (last, normalized) = (uniqueName("\(out)/channels_last"), uniqueName("\(out)/normalized"))
            add("Transpose", [x], last, [.ints("perm", [0, 2, 3, 1])])
            var inputs = [last, initializer("\(norm.scale.name)", floats: norm.scale.value)]
            if let shift = norm.shift { inputs.append(initializer("\(shift.name)", floats: shift.value)) }
            add("LayerNormalization", inputs, normalized, [.int("axis", -1), .float("epsilon", norm.epsilon)])
            add("Transpose", [normalized], out, [.ints("perm", [0, 3, 1, 2])])
        case let pointwise as Pointwise: emit(pointwise.function, input: x, output: out)
        case is Power: add("Pow", node.inputs, out)
        case let resize as Resize: try emit(resize, input: x, output: out)
        case let slice as Slice:
            add("Slice", [x, initializer("\(out)/starts", ints: slice.starts), initializer("\(out)/ends", ints: slice.ends),
                          initializer("\(out)/axes", ints: slice.axes), initializer("\(out)/steps", ints: slice.steps)], out)
        case let gather as Gather:
            let indices = initializer("\(out)/indices", ONNXTensor(shape: gather.indicesShape, elements: .int64(gather.indices.map { Int64($0) })))
            add("Gather", [x, indices], out, [.int("axis", gather.axis)])
        case let reduce as ReduceMean:
            var attributes = [Onnx_AttributeProto.int("keepdims", reduce.keepsDimensions ? 1 : 0)]
            if let axes = reduce.axes { attributes.append(.ints("axes", axes)) }
            add("ReduceMean", [x], out, attributes)
        default:
            throw ONNXError(node.name, "operator '\(op.kind)' has no ONNX export")
        }
    }

    private mutating func emit(_ activation: Activation, input: String, output: String) {
        switch activation {
        case .relu: add("Relu", [input], output)
        case let .clip(lo, hi):
            add("Clip", [input, initializer("\(output)/min", floats: Tensor(shape: [], scalars: [lo])),
                         initializer("\(output)/max", floats: Tensor(shape: [], scalars: [hi]))], output)
        case let .leakyReLU(alpha): add("LeakyRelu", [input], output, [.float("alpha", alpha)])
        case .sigmoid: add("Sigmoid", [input], output)
        case let .hardSigmoid(alpha, beta): add("HardSigmoid", [input], output, [.float("alpha", alpha), .float("beta", beta)])
        case .hardSwish: add("HardSwish", [input], output)
        case .tanh: add("Tanh", [input], output)
        case .silu:
            add("Sigmoid", [input], "\(output)/sigmoid")
            add("Mul", [input, "\(output)/sigmoid"], output)
        case .gelu: emitGELU(tanhApproximation: false, input: input, output: output)
        }
    }

    private mutating func emit(_ function: Pointwise.Function, input: String, output: String) {
        switch function {
        case .sqrt: add("Sqrt", [input], output)
        case .reciprocal: add("Reciprocal", [input], output)
        case .erf: add("Erf", [input], output)
        case .geluTanh: emitGELU(tanhApproximation: true, input: input, output: output)
        }
    }

    /// GELU has no operator before opset 20: it is spelled out as PyTorch spells it.
    private mutating func emitGELU(tanhApproximation: Bool, input: String, output: String) {
        // Literals are Constant nodes: an initializer read as data imports as a trainable weight.
        func scalar(_ value: Float) -> String {
            let name = uniqueName("\(output)/constant")
            add("Constant", [], name, [.tensor("value", ONNXTensor(Tensor(shape: [], scalars: [value])))])
            return name
        }
        let inner: String
        if !tanhApproximation {
            // x Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
            let scaled = uniqueName("\(output)/scaled")
            add("Div", [input, scalar(Float(2).squareRoot())], scaled)
            inner = uniqueName("\(output)/erf")
            add("Erf", [scaled], inner)
        } else {
            // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
            let cube = uniqueName("\(output)/cube")
            add("Pow", [input, scalar(3)], cube)
            let term = uniqueName("\(output)/term")
            add("Mul", [cube, scalar(0.044715)], term)
            let sum = uniqueName("\(output)/sum")
            add("Add", [input, term], sum)
            let scaled = uniqueName("\(output)/scaled")
            add("Mul", [sum, scalar(Float((2 / Double.pi).squareRoot()))], scaled)
            inner = uniqueName("\(output)/tanh")
            add("Tanh", [scaled], inner)
        }
        let shifted = uniqueName("\(output)/shifted")
        add("Add", [inner, scalar(1)], shifted)
        let product = uniqueName("\(output)/product")
        add("Mul", [input, shifted], product)
        add("Mul", [product, scalar(0.5)], output)
    }

    /// Resize with scales (the batch axis is free, so sizes cannot be written); each scale is the
    /// smallest float whose product with the input length rounds down to the output length,
    /// whether the product is taken in single precision (onnxruntime) or exactly.
    private mutating func emit(_ resize: Resize, input: String, output: String) throws {
        guard !resize.antialias, resize.coordinateMode != .halfPixelSymmetric else {
            throw ONNXError(output, "antialiased Resize and half_pixel_symmetric need opset 18 or 19; the export writes opset \(ONNXExporter.opset)")
        }
        let inputShape = shapes[input] ?? []
        let scales: [Float] = zip(inputShape, resize.targets).map { length, target in
            switch target {
            case nil: return 1
            case let .scale(s)?: return Float(s)
            case let .size(n)?:
                var s = Float(n) / Float(length)
                while Int(Float(length) * s) < n || Int(Double(length) * Double(s)) < n { s = s.nextUp }
                return s
            }
        }
        var attributes: [Onnx_AttributeProto] = [.string("coordinate_transformation_mode", resize.coordinateMode.rawValue),
                                                 .int("exclude_outside", resize.excludeOutside ? 1 : 0),
                                                 .float("extrapolation_value", resize.extrapolationValue)]
        switch resize.filter {
        case let .nearest(rounding): attributes += [.string("mode", "nearest"), .string("nearest_mode", rounding.rawValue)]
        case .linear: attributes.append(.string("mode", "linear"))
        case let .cubic(a): attributes += [.string("mode", "cubic"), .float("cubic_coeff_a", Float(a))]
        }
        var roi = ""
        if let region = resize.regionOfInterest {
            roi = initializer("\(output)/roi", floats: Tensor(shape: [2 * region.count],
                                                              scalars: region.map { Float($0.start) } + region.map { Float($0.end) }))
        }
        add("Resize", [input, roi, initializer("\(output)/scales", floats: Tensor(shape: [scales.count], scalars: scales))], output, attributes)
    }

    private func padding(_ padding: Padding) -> [Onnx_AttributeProto] {
        switch padding {
        case let .explicit(top, left, bottom, right): return [.ints("pads", [top, left, bottom, right])]
        case let .same(lower): return [.string("auto_pad", lower ? "SAME_LOWER" : "SAME_UPPER")]
        case .valid: return [.string("auto_pad", "VALID")]
        }
    }
}

extension Onnx_AttributeProto {
    static func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = Int64(value)
        return a
    }

    static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = values.map { Int64($0) }
        return a
    }

    static func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .float
        a.f = value
        return a
    }

    static func tensor(_ name: String, _ value: ONNXTensor) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .tensor
        a.t = value.proto
        return a
    }

    static func string(_ name: String, _ value: String) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .string
        a.s = Data(value.utf8)
        return a
    }
}
