import Foundation

/// Writes small ONNX models byte by byte (the generated protobuf types are internal to CNN),
/// for tests of shapes, errors and attacks that no shipped model has.
public struct ONNXModelWriter {
    public struct NodeSpec {
        public var type: String
        public var inputs: [String]
        public var outputs: [String]
        public var name = ""
        public var ints: [String: [Int]] = [:]
        public var int: [String: Int] = [:]
        /// Tensor attributes (ConstantOfShape's `value`, Constant's `value`).
        public var tensors: [String: FloatTensor] = [:]

        public init(type: String, inputs: [String], outputs: [String], name: String = "", ints: [String: [Int]] = [:],
                    int: [String: Int] = [:], tensors: [String: FloatTensor] = [:]) {
            self.type = type
            self.inputs = inputs
            self.outputs = outputs
            self.name = name
            self.ints = ints
            self.int = int
            self.tensors = tensors
        }
    }

    /// A float tensor: its shape and its values (raw little-endian data in the file).
    public struct FloatTensor {
        public var shape: [Int]
        public var values: [Float]

        public init(shape: [Int], values: [Float]) {
            self.shape = shape
            self.values = values
        }

        public init(shape: [Int], repeating value: Float) {
            self.init(shape: shape, values: [Float](repeating: value, count: shape.reduce(1, *)))
        }

        func proto(name: String) -> ProtoBytes {
            var t = ProtoBytes()
            shape.forEach { t.varint(1, UInt64($0)) }
            t.varint(2, 1)  // FLOAT
            t.string(8, name)
            t.bytes(9, values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } })
            return t
        }
    }

    public var inputs: [(String, [Int?])]
    public var outputs: [String]
    public var nodes: [NodeSpec]
    public var int64Initializers: [String: ([Int], [Int])] = [:]
    public var floatInitializers: [String: FloatTensor] = [:]
    /// An initializer of four floats whose data lives in an external file, at `externalLocation`.
    public var externalInitializer: String?
    public var externalLocation = "weights.bin"
    public var opset = 13

    public init(inputs: [(String, [Int?])], outputs: [String], nodes: [NodeSpec], int64Initializers: [String: ([Int], [Int])] = [:],
                floatInitializers: [String: FloatTensor] = [:], externalInitializer: String? = nil, opset: Int = 13) {
        self.inputs = inputs
        self.outputs = outputs
        self.nodes = nodes
        self.int64Initializers = int64Initializers
        self.floatInitializers = floatInitializers
        self.externalInitializer = externalInitializer
        self.opset = opset
    }

    public var data: Data {
        var graph = ProtoBytes()
        for node in nodes {
            var n = ProtoBytes()
            node.inputs.forEach { n.string(1, $0) }
            node.outputs.forEach { n.string(2, $0) }
            n.string(3, node.name)
            n.string(4, node.type)
            for (name, values) in node.ints.sorted(by: { $0.key < $1.key }) {
                var a = ProtoBytes()
                a.string(1, name)
                values.forEach { a.varint(8, UInt64(bitPattern: Int64($0))) }
                a.varint(20, 7)  // AttributeType.INTS
                n.message(5, a)
            }
            for (name, value) in node.int.sorted(by: { $0.key < $1.key }) {
                var a = ProtoBytes()
                a.string(1, name)
                a.varint(3, UInt64(bitPattern: Int64(value)))
                a.varint(20, 2)  // AttributeType.INT
                n.message(5, a)
            }
            for (name, tensor) in node.tensors.sorted(by: { $0.key < $1.key }) {
                var a = ProtoBytes()
                a.string(1, name)
                a.message(5, tensor.proto(name: ""))
                a.varint(20, 4)  // AttributeType.TENSOR
                n.message(5, a)
            }
            graph.message(1, n)
        }
        graph.string(2, "test")
        for (name, (shape, values)) in int64Initializers.sorted(by: { $0.key < $1.key }) {
            var t = ProtoBytes()
            shape.forEach { t.varint(1, UInt64($0)) }
            t.varint(2, 7)  // INT64
            values.forEach { t.varint(7, UInt64(bitPattern: Int64($0))) }
            t.string(8, name)
            graph.message(5, t)
        }
        for (name, tensor) in floatInitializers.sorted(by: { $0.key < $1.key }) {
            graph.message(5, tensor.proto(name: name))
        }
        if let name = externalInitializer {
            var t = ProtoBytes()
            t.varint(1, 4)
            t.varint(2, 1)  // FLOAT
            t.string(8, name)
            var location = ProtoBytes()
            location.string(1, "location")
            location.string(2, externalLocation)
            t.message(13, location)
            t.varint(14, 1)  // DataLocation.EXTERNAL
            graph.message(5, t)
        }
        for (name, shape) in inputs { graph.message(11, Self.valueInfo(name, shape)) }
        for name in outputs { graph.message(12, Self.valueInfo(name, nil)) }
        var model = ProtoBytes()
        model.varint(1, 8)
        var opsetID = ProtoBytes()
        opsetID.varint(2, UInt64(opset))
        model.message(8, opsetID)
        model.message(7, graph)
        return Data(model.bytes)
    }

    private static func valueInfo(_ name: String, _ shape: [Int?]?) -> ProtoBytes {
        var tensor = ProtoBytes()
        tensor.varint(1, 1)  // FLOAT
        if let shape {
            var s = ProtoBytes()
            for d in shape {
                var dim = ProtoBytes()
                if let d { dim.varint(1, UInt64(d)) } else { dim.string(2, "N") }
                s.message(1, dim)
            }
            tensor.message(2, s)
        }
        var type = ProtoBytes()
        type.message(1, tensor)
        var info = ProtoBytes()
        info.string(1, name)
        info.message(2, type)
        return info
    }
}

/// The protobuf wire format, just enough for `ONNXModelWriter`.
public struct ProtoBytes {
    public var bytes: [UInt8] = []

    public init() {}

    private mutating func raw(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    public mutating func varint(_ field: Int, _ value: UInt64) {
        raw(UInt64(field << 3))
        raw(value)
    }

    public mutating func fixed32(_ field: Int, _ value: UInt32) {
        raw(UInt64(field << 3 | 5))
        bytes += withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    public mutating func string(_ field: Int, _ value: String) {
        bytes(field, Array(value.utf8))
    }

    public mutating func bytes(_ field: Int, _ value: [UInt8]) {
        raw(UInt64(field << 3 | 2))
        raw(UInt64(value.count))
        bytes += value
    }

    public mutating func message(_ field: Int, _ value: ProtoBytes) {
        raw(UInt64(field << 3 | 2))
        raw(UInt64(value.bytes.count))
        bytes += value.bytes
    }
}
