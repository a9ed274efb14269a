/// Per-layer facts of a model: output shape, parameters, multiply-accumulates and receptive field.
public struct ModelAnalysis: Codable, Sendable {
    public struct ReceptiveField: Codable, Equatable, Sendable {
        /// Input pixels one output unit sees, per axis (h, w).
        public var size: [Int]
        /// Input pixels between neighbouring output units.
        public var jump: [Int]
        /// Input coordinate of the centre of the first output unit's field (pixel centres are integers).
        public var start: [Double]
    }

    public struct Layer: Codable, Sendable {
        public var name: String
        public var type: String
        public var outputShape: [Int]
        public var params: Int
        public var macs: Int
        public var receptiveField: ReceptiveField

        enum CodingKeys: String, CodingKey {
            case name, type, params, macs
            case outputShape = "output_shape", receptiveField = "receptive_field"
        }
    }

    public var layers: [Layer]
    public var totalParams: Int
    public var trainableParams: Int
    public var totalMacs: Int

    enum CodingKeys: String, CodingKey {
        case layers
        case totalParams = "total_params", trainableParams = "trainable_params", totalMacs = "total_macs"
    }

    /// Receptive fields follow r_out = r_in + (k_eff - 1) * j_in, j_out = j_in * s,
    /// start_out = start_in + ((k_eff - 1) / 2 - pad) * j_in, with k_eff = d * (k - 1) + 1.
    /// Where inputs merge (add, concat) the widest field wins; layers that mix every position
    /// (dense, flatten, global pooling) see the whole input.
    public init(graph: Graph) throws {
        let shapes = try graph.shapes(batch: 1)
        let spatial = graph.inputShape.count == 3
        let inputH = spatial ? graph.inputShape[1] : 1, inputW = spatial ? graph.inputShape[2] : 1
        let whole = ReceptiveField(size: [inputH, inputW], jump: [inputH, inputW],
                                   start: [Double(inputH - 1) / 2, Double(inputW - 1) / 2])
        var fields = [graph.inputName: ReceptiveField(size: [1, 1], jump: [1, 1], start: [0, 0])]
        layers = []
        for node in graph.nodes {
            let inputShape = node.inputs.first.flatMap { shapes[$0] } ?? []
            let outputShape = shapes[node.name]!
            let field = node.inputs.compactMap { fields[$0] }.max { $0.size[0] * $0.size[1] < $1.size[0] * $1.size[1] }
                ?? ReceptiveField(size: [1, 1], jump: [1, 1], start: [0, 0])
            let result: ReceptiveField
            var macs = 0
            switch node.op {
            case let conv as Conv2D:
                let w = try conv.window(for: inputShape)
                result = ModelAnalysis.slide(field, w)
                macs = outputShape.reduce(1, *) * (conv.inChannels / conv.groups) * conv.kernel.h * conv.kernel.w
            case let pool as MaxPool2D:
                result = ModelAnalysis.slide(field, try pool.window(for: inputShape))
            case let pool as AvgPool2D:
                result = ModelAnalysis.slide(field, try pool.window(for: inputShape))
            case let dense as Dense:
                result = whole
                // Over the last axis, once per row (at batch 1, the output's size over out).
                macs = dense.appliesToLastAxis ? outputShape.reduce(1, *) * dense.inFeatures : dense.inFeatures * dense.outFeatures
            case is GlobalAvgPool, is Flatten:
                result = whole
            default:
                // Shape-preserving layers keep the field; anything that reshapes space mixes it.
                result = outputShape.count == 4 && inputShape.count == 4 && outputShape[2...] == inputShape[2...] ? field : whole
            }
            fields[node.name] = result
            layers.append(Layer(name: node.name, type: node.op.kind, outputShape: Array(outputShape.dropFirst()),
                                params: node.op.parameters.reduce(0) { $0 + $1.value.count }, macs: macs,
                                receptiveField: result))
        }
        let parameters = graph.parameters
        totalParams = parameters.reduce(0) { $0 + $1.value.count }
        trainableParams = parameters.filter(\.isTrainable).reduce(0) { $0 + $1.value.count }
        totalMacs = layers.reduce(0) { $0 + $1.macs }
    }

    static func slide(_ field: ReceptiveField, _ w: Window) -> ReceptiveField {
        let k = w.effectiveKernel
        let kernel = [k.h, k.w], stride = [w.stride.h, w.stride.w], pad = [w.padTop, w.padLeft]
        var out = field
        for axis in 0..<2 {
            out.size[axis] = field.size[axis] + (kernel[axis] - 1) * field.jump[axis]
            out.jump[axis] = field.jump[axis] * stride[axis]
            out.start[axis] = field.start[axis] + (Double(kernel[axis] - 1) / 2 - Double(pad[axis])) * Double(field.jump[axis])
        }
        return out
    }

    /// A fixed-width table for terminals.
    public var table: String {
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        func grouped(_ n: Int) -> String {
            let digits = String(n)
            return String(digits.reversed().enumerated().map { i, c in i > 0 && i % 3 == 0 ? [",", c] : [c] }
                .joined().reversed().map { $0 })
        }
        var lines = [pad("layer", 18) + pad("type", 16) + pad("output", 16) + pad("params", 14) + pad("MACs", 16) + "receptive field (size / jump / start)"]
        for l in layers {
            let rf = l.receptiveField
            lines.append(pad(l.name, 18) + pad(l.type, 16) + pad(l.outputShape.map(String.init).joined(separator: "x"), 16)
                         + pad(grouped(l.params), 14) + pad(grouped(l.macs), 16)
                         + "\(rf.size[0])x\(rf.size[1]) / \(rf.jump[0])x\(rf.jump[1]) / (\(rf.start[0]), \(rf.start[1]))")
        }
        lines.append("total params \(grouped(totalParams)), trainable \(grouped(trainableParams)), MACs \(grouped(totalMacs))")
        return lines.joined(separator: "\n")
    }
}
