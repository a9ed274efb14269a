import Foundation
import SwiftProtobuf

/// A tensor as ONNX stores it: float data (float32, float16 and double widen to Float32) or
/// integer data (every integer type and bool widen to Int64).
///
/// The engine computes in Float32 only; integers exist so that shapes, indices and axes can be
/// read and folded exactly at import time.
public struct ONNXTensor: Equatable, Sendable {
    public enum Elements: Equatable, Sendable {
        case float([Float])
        case int64([Int64])
    }

    public var name: String
    public var shape: [Int]
    public var elements: Elements

    public init(name: String = "", shape: [Int], elements: Elements) {
        self.name = name
        self.shape = shape
        self.elements = elements
    }

    public init(name: String = "", _ tensor: Tensor) {
        self.init(name: name, shape: tensor.shape, elements: .float(tensor.scalars))
    }

    /// Reads a serialized `TensorProto`, such as the `input_0.pb` files of the ONNX test data.
    public init(serializedData data: Data) throws {
        let proto: Onnx_TensorProto
        do {
            proto = try Onnx_TensorProto(serializedBytes: data)
        } catch {
            throw ONNXError(nil, "not a TensorProto: \(error)")
        }
        try self.init(proto)
    }

    public init(contentsOf url: URL) throws {
        try self.init(serializedData: Data(contentsOf: url))
    }

    /// The tensor as a serialized `TensorProto`.
    public func serializedData() throws -> Data {
        try proto.serializedData()
    }

    public var count: Int { shape.reduce(1, *) }

    public var isInteger: Bool {
        if case .int64 = elements { return true }
        return false
    }

    /// The values as an engine tensor; integers convert to the nearest Float.
    public var tensor: Tensor {
        switch elements {
        case let .float(values): return Tensor(shape: shape, scalars: values)
        case let .int64(values): return Tensor(shape: shape, scalars: values.map { Float($0) })
        }
    }

    /// The values as integers, for attributes carried in tensors (shapes, axes, pads).
    func integers(for location: String) throws -> [Int] {
        switch elements {
        case let .int64(values): return values.map { Int($0) }
        case let .float(values):
            guard values.allSatisfy({ $0 == $0.rounded() && abs($0) < 1e15 }) else {
                throw ONNXError(location, "expected integers in tensor '\(name)'")
            }
            return values.map { Int($0) }
        }
    }

    func floats(for location: String) -> [Float] {
        switch elements {
        case let .float(values): return values
        case let .int64(values): return values.map { Float($0) }
        }
    }
}

extension ONNXTensor {
    init(_ proto: Onnx_TensorProto) throws {
        let name = proto.name
        if proto.dataLocation == .external {
            throw ONNXError(name, "external tensor data is read only for initializers of a model loaded from its file")
        }
        guard proto.dims.allSatisfy({ $0 >= 0 && $0 < Int64(Int32.max) }) else {
            throw ONNXError(name, "invalid dimensions \(proto.dims)")
        }
        let shape = proto.dims.map { Int($0) }
        guard let count = Self.elementCount(shape) else { throw ONNXError(name, "tensor of shape \(shape) is too large") }
        guard let type = Onnx_TensorProto.DataType(rawValue: Int(proto.dataType)) else {
            throw ONNXError(name, "unknown data type \(proto.dataType)")
        }
        let raw = proto.hasRawData ? proto.rawData : nil
        let elements: Elements
        switch type {
        case .float:
            elements = .float(try Self.values(raw, proto.floatData, count: count, name: name) { (b: UInt32) in Float(bitPattern: b) })
        case .double:
            elements = .float(try Self.values(raw, proto.doubleData, count: count, name: name) { (b: UInt64) in Double(bitPattern: b) }.map { Float($0) })
        case .float16:
            let bits: [UInt16] = try Self.values(raw, proto.int32Data.map { UInt16(truncatingIfNeeded: $0) },
                                                 count: count, name: name) { (b: UInt16) in b }
            elements = .float(bits.map { Float(Float16(bitPattern: $0)) })
        case .int64:
            elements = .int64(try Self.values(raw, proto.int64Data, count: count, name: name) { (b: UInt64) in Int64(bitPattern: b) })
        case .int32:
            elements = .int64(try Self.values(raw, proto.int32Data, count: count, name: name) { (b: UInt32) in Int32(bitPattern: b) }.map { Int64($0) })
        case .int8:
            elements = .int64(try Self.values(raw, proto.int32Data.map { Int8(truncatingIfNeeded: $0) }, count: count, name: name) { (b: UInt8) in Int8(bitPattern: b) }.map { Int64($0) })
        case .uint32:
            elements = .int64(try Self.values(raw, proto.uint64Data.map { UInt32(truncatingIfNeeded: $0) }, count: count, name: name) { (b: UInt32) in b }.map { Int64($0) })
        case .uint64:
            elements = .int64(try Self.values(raw, proto.uint64Data, count: count, name: name) { (b: UInt64) in b }.map { Int64(clamping: $0) })
        case .uint8, .bool:
            elements = .int64(try Self.values(raw, proto.int32Data.map { UInt8(truncatingIfNeeded: $0) }, count: count, name: name) { (b: UInt8) in b }.map { Int64($0) })
        default:
            throw ONNXError(name, "data type \(type) is not supported")
        }
        self.init(name: name, shape: shape, elements: elements)
    }

    /// Bytes per element of a stored tensor of this data type, nil for types the importer does
    /// not read.
    static func byteWidth(of dataType: Int32) -> Int? {
        switch Onnx_TensorProto.DataType(rawValue: Int(dataType)) {
        case .float?, .int32?, .uint32?: return 4
        case .double?, .int64?, .uint64?: return 8
        case .float16?: return 2
        case .int8?, .uint8?, .bool?: return 1
        default: return nil
        }
    }

    /// The largest tensor the importer materializes: 2^28 floats (1 GiB), above VGG's biggest weight.
    static let maximumCount = 1 << 28

    /// The element count of a shape, nil when it overflows or exceeds `maximumCount`.
    static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, product <= maximumCount else { return nil }
            count = product
        }
        return count
    }

    /// Decodes little-endian raw bytes of width `Bits`, or takes the typed field.
    private static func values<Bits: FixedWidthInteger, Value>(
        _ raw: Data?, _ typed: [Value], count: Int, name: String, _ convert: (Bits) -> Value
    ) throws -> [Value] {
        if let raw {
            let width = MemoryLayout<Bits>.size
            guard raw.count == count * width else {
                throw ONNXError(name, "raw data holds \(raw.count) bytes, shape needs \(count * width)")
            }
            return raw.withUnsafeBytes { bytes in
                (0..<count).map { i in convert(Bits(littleEndian: bytes.loadUnaligned(fromByteOffset: i * width, as: Bits.self))) }
            }
        }
        guard typed.count == count else {
            throw ONNXError(name, "holds \(typed.count) values, shape needs \(count)")
        }
        return typed
    }

    var proto: Onnx_TensorProto {
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dims = shape.map { Int64($0) }
        switch elements {
        case let .float(values):
            proto.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            proto.floatData = values
        case let .int64(values):
            proto.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
            proto.int64Data = values
        }
        return proto
    }
}
