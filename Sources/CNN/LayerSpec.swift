import Foundation

/// One layer of the JSON architecture format. Fields a type does not use are ignored.
public struct LayerSpec: Codable, Equatable, Sendable {
    public var type: String
    public var name: String?
    public var inputs: [String]?
    /// Output channels of conv2d.
    public var filters: Int?
    /// Output features of dense.
    public var units: Int?
    public var kernel: Pair?
    public var stride: Pair?
    public var dilation: Pair?
    /// "same", "valid", one number, or [top, left, bottom, right].
    public var padding: PaddingSpec?
    public var groups: Int?
    public var depthMultiplier: Int?
    public var useBias: Bool?
    public var activation: String?
    public var rate: Float?
    public var axis: Int?
    public var epsilon: Float?
    public var momentum: Float?
    public var ceilMode: Bool?
    public var countIncludePad: Bool?

    enum CodingKeys: String, CodingKey {
        case type, name, inputs, filters, units, kernel, stride, dilation, padding, groups
        case depthMultiplier = "depth_multiplier", useBias = "use_bias", activation, rate, axis, epsilon, momentum
        case ceilMode = "ceil_mode", countIncludePad = "count_include_pad"
    }

    public init(type: String) {
        self.type = type
    }

    /// An integer or an [h, w] pair.
    public struct Pair: Codable, Equatable, Sendable {
        public var h: Int
        public var w: Int

        public init(_ h: Int, _ w: Int) {
            self.h = h
            self.w = w
        }

        public init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let n = try? container.decode(Int.self) {
                (h, w) = (n, n)
            } else {
                let pair = try container.decode([Int].self)
                guard pair.count == 2 else {
                    throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected a number or [h, w]")
                }
                (h, w) = (pair[0], pair[1])
            }
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            if h == w { try container.encode(h) } else { try container.encode([h, w]) }
        }

        var tuple: (Int, Int) { (h, w) }
    }

    public enum PaddingSpec: Codable, Equatable, Sendable {
        case same, valid
        case explicit(top: Int, left: Int, bottom: Int, right: Int)

        public init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let word = try? container.decode(String.self) {
                switch word {
                case "same": self = .same
                case "valid": self = .valid
                default:
                    throw DecodingError.dataCorruptedError(in: container, debugDescription: "padding '\(word)' is not same or valid")
                }
            } else if let n = try? container.decode(Int.self) {
                self = .explicit(top: n, left: n, bottom: n, right: n)
            } else {
                let p = try container.decode([Int].self)
                switch p.count {
                case 2: self = .explicit(top: p[0], left: p[1], bottom: p[0], right: p[1])
                case 4: self = .explicit(top: p[0], left: p[1], bottom: p[2], right: p[3])
                default:
                    throw DecodingError.dataCorruptedError(in: container, debugDescription: "padding takes 1, 2 or 4 numbers")
                }
            }
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .same: try container.encode("same")
            case .valid: try container.encode("valid")
            case let .explicit(t, l, b, r): try container.encode([t, l, b, r])
            }
        }

        var padding: Padding {
            switch self {
            case .same: return .same(lower: false)
            case .valid: return .valid
            case let .explicit(t, l, b, r): return .explicit(top: t, left: l, bottom: b, right: r)
            }
        }
    }

    static func activation(named name: String?) throws -> Activation? {
        switch name {
        case nil, "linear", "none": return nil
        case "relu": return .relu
        case "relu6": return .relu6
        case "sigmoid": return .sigmoid
        case "tanh": return .tanh
        case "hard_swish": return .hardSwish
        case "silu", "swish": return .silu
        case "gelu": return .gelu
        case "leaky_relu": return .leakyReLU(alpha: 0.01)
        case let other?: throw ShapeError("unknown activation '\(other)'")
        }
    }

    func makeOperator(name: String, inputShapes: [[Int]], random: inout RandomSource) throws -> Operator {
        func fail(_ reason: String) -> GraphError { GraphError(node: name, "\(type): \(reason)") }
        func require<T>(_ value: T?, _ field: String) throws -> T {
            guard let value else { throw fail("needs '\(field)'") }
            return value
        }
        let channels = inputShapes.first.map { $0.count > 1 ? $0[1] : 0 } ?? 0
        let act: Activation?
        do { act = try LayerSpec.activation(named: activation) } catch let e as ShapeError { throw fail(e.reason) }
        switch type {
        case "conv2d", "depthwise_conv2d":
            let depthwise = type == "depthwise_conv2d"
            let k = try require(kernel, "kernel")
            let g = depthwise ? channels : (groups ?? 1)
            let out = depthwise ? channels * (depthMultiplier ?? 1) : try require(filters, "filters")
            guard g > 0, channels % g == 0, out % g == 0, out > 0, k.h > 0, k.w > 0 else {
                throw fail("\(channels) input and \(out) output channels do not split into \(g) groups")
            }
            let fanIn = channels / g * k.h * k.w
            let weight = Parameter(name: "\(name).weight", value: LayerSpec.heUniform([out, channels / g, k.h, k.w], fanIn: fanIn, &random))
            let bias = (useBias ?? true) ? Parameter(name: "\(name).bias", value: LayerSpec.uniformBias(out, fanIn: fanIn, &random)) : nil
            return Conv2D(weight: weight, bias: bias, stride: (stride ?? Pair(1, 1)).tuple,
                          dilation: (dilation ?? Pair(1, 1)).tuple, padding: (padding ?? .valid).padding, groups: g,
                          activation: act)
        case "dense":
            let units = try require(units, "units")
            let fanIn = inputShapes.first.map { $0.dropFirst().reduce(1, *) } ?? 0
            guard units > 0, fanIn > 0 else { throw fail("needs positive units and input features") }
            let weight = Parameter(name: "\(name).weight", value: LayerSpec.heUniform([units, fanIn], fanIn: fanIn, &random))
            let bias = (useBias ?? true) ? Parameter(name: "\(name).bias", value: LayerSpec.uniformBias(units, fanIn: fanIn, &random)) : nil
            return Dense(weight: weight, bias: bias, activation: act)
        case "maxpool2d":
            let k = try require(kernel, "kernel")
            return MaxPool2D(kernel: k.tuple, stride: (stride ?? k).tuple, dilation: (dilation ?? Pair(1, 1)).tuple,
                             padding: (padding ?? .valid).padding, ceilMode: ceilMode ?? false)
        case "avgpool2d":
            let k = try require(kernel, "kernel")
            return AvgPool2D(kernel: k.tuple, stride: (stride ?? k).tuple, padding: (padding ?? .valid).padding,
                             ceilMode: ceilMode ?? false, countIncludePad: countIncludePad ?? false)
        case "global_avgpool": return GlobalAvgPool()
        case "global_maxpool": return GlobalMaxPool()
        case "batchnorm": return BatchNorm(name: name, channels: channels, epsilon: epsilon ?? 1e-5, momentum: momentum ?? 0.1)
        case "dropout": return Dropout(rate: rate ?? 0.5)
        case "flatten": return Flatten()
        case "relu", "relu6", "sigmoid", "tanh", "hard_swish", "silu", "gelu", "leaky_relu":
            return ActivationLayer(try LayerSpec.activation(named: type)!)
        case "softmax": return Softmax(axis: axis ?? 1)
        case "add": return Elementwise(.add)
        case "concat": return Concat(axis: axis ?? 1)
        default:
            throw fail("unknown layer type; expected conv2d, depthwise_conv2d, maxpool2d, avgpool2d, global_avgpool, global_maxpool, dense, batchnorm, dropout, flatten, relu, relu6, sigmoid, tanh, softmax, add or concat")
        }
    }

    static func heUniform(_ shape: [Int], fanIn: Int, _ random: inout RandomSource) -> Tensor {
        let bound = (6 / Float(max(fanIn, 1))).squareRoot()
        return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in (2 * random.nextUniform() - 1) * bound })
    }

    static func uniformBias(_ count: Int, fanIn: Int, _ random: inout RandomSource) -> Tensor {
        let bound = 1 / Float(max(fanIn, 1)).squareRoot()
        return Tensor(shape: [count], scalars: (0..<count).map { _ in (2 * random.nextUniform() - 1) * bound })
    }
}
