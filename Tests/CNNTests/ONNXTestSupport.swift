import CNN
import Foundation
import XCTest

/// Locations of test data: the shared folder beside the repository, and Debian's ONNX test data.
enum ONNXTestData {
    /// `shared/data` beside the checkout or one of its ancestors.
    static var shared: URL? {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("shared/data")
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    static let backend = URL(fileURLWithPath: "/usr/share/libonnx-testdata/data")

    static func sharedFolder(_ name: String) throws -> URL {
        guard let url = shared?.appendingPathComponent(name), FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("shared/data/\(name) not found beside the repository")
        }
        return url
    }
}

/// Asserts |actual - expected| <= atol + rtol * |expected| elementwise, shapes equal.
func assertClose(_ actual: Tensor, _ expected: Tensor, rtol: Float = 1e-3, atol: Float = 1e-7,
                 _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, "shape \(message)", file: file, line: line)
    guard actual.shape == expected.shape else { return }
    if let bad = mismatch(actual, expected, rtol: rtol, atol: atol) {
        XCTFail("\(message): element \(bad) is \(actual.scalars[bad]), expected \(expected.scalars[bad])", file: file, line: line)
    }
}

/// The first element out of tolerance, or nil.
func mismatch(_ actual: Tensor, _ expected: Tensor, rtol: Float, atol: Float) -> Int? {
    guard actual.count == expected.count else { return 0 }
    return zip(actual.scalars, expected.scalars).enumerated().first { _, pair in
        let (a, e) = pair
        if e.isNaN { return !a.isNaN }
        if e.isInfinite { return a != e }
        return !(abs(a - e) <= atol + rtol * abs(e))
    }?.offset
}

/// Writes small ONNX models byte by byte (the generated protobuf types are internal to CNN),
/// for tests of shapes and errors that no shipped model has.
struct ONNXModelWriter {
    struct NodeSpec {
        var type: String
        var inputs: [String]
        var outputs: [String]
        var name = ""
        var ints: [String: [Int]] = [:]
        var int: [String: Int] = [:]
    }

    var inputs: [(String, [Int?])]
    var outputs: [String]
    var nodes: [NodeSpec]
    var int64Initializers: [String: ([Int], [Int])] = [:]
    /// An initializer whose data lives in an external file.
    var externalInitializer: String?
    var opset = 13

    var data: Data {
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
        if let name = externalInitializer {
            var t = ProtoBytes()
            t.varint(1, 4)
            t.varint(2, 1)  // FLOAT
            t.string(8, name)
            var location = ProtoBytes()
            location.string(1, "location")
            location.string(2, "weights.bin")
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
struct ProtoBytes {
    var bytes: [UInt8] = []

    private mutating func raw(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func varint(_ field: Int, _ value: UInt64) {
        raw(UInt64(field << 3))
        raw(value)
    }

    mutating func fixed32(_ field: Int, _ value: UInt32) {
        raw(UInt64(field << 3 | 5))
        bytes += withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    mutating func string(_ field: Int, _ value: String) {
        raw(UInt64(field << 3 | 2))
        raw(UInt64(value.utf8.count))
        bytes += value.utf8
    }

    mutating func message(_ field: Int, _ value: ProtoBytes) {
        raw(UInt64(field << 3 | 2))
        raw(UInt64(value.bytes.count))
        bytes += value.bytes
    }
}
