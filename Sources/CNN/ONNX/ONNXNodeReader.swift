/// Typed access to one ONNX node's inputs and attributes, with errors that name the node.
struct ONNXNodeReader {
    let proto: Onnx_NodeProto
    let opset: Int

    /// The node's name, or its first output when unnamed.
    var location: String {
        if !proto.name.isEmpty { return proto.name }
        return proto.output.first.map { "\(proto.opType) -> \($0)" } ?? proto.opType
    }

    var opType: String { proto.opType }

    /// The name of input `index`, nil when absent (ONNX marks skipped optional inputs with "").
    func input(_ index: Int) -> String? {
        index < proto.input.count && !proto.input[index].isEmpty ? proto.input[index] : nil
    }

    func requiredInput(_ index: Int) throws -> String {
        guard let name = input(index) else { throw error("input \(index) is missing") }
        return name
    }

    /// Output names that something may read (empty names are unused optional outputs).
    var usedOutputs: [Int] { proto.output.indices.filter { !proto.output[$0].isEmpty } }

    func error(_ reason: String) -> ONNXError { ONNXError(location, "\(opType): \(reason)") }

    private func attribute(_ name: String) -> Onnx_AttributeProto? {
        proto.attribute.first { $0.name == name }
    }

    func has(_ name: String) -> Bool { attribute(name) != nil }

    func int(_ name: String, default value: Int) throws -> Int {
        guard let a = attribute(name) else { return value }
        guard a.i >= Int64(Int32.min), a.i <= Int64(Int32.max) else { throw error("attribute \(name) = \(a.i) is out of range") }
        return Int(a.i)
    }

    /// Integer lists; values beyond Int32 are clamped, which only slice bounds use (as "to the end").
    func ints(_ name: String) -> [Int]? {
        attribute(name).map { $0.ints.map { Int(max(min($0, Int64(Int32.max)), Int64(Int32.min))) } }
    }

    func float(_ name: String, default value: Float) -> Float {
        attribute(name).map(\.f) ?? value
    }

    func floats(_ name: String) -> [Float]? { attribute(name).map(\.floats) }

    func string(_ name: String) -> String? {
        attribute(name).map { String(decoding: $0.s, as: UTF8.self) }
    }

    func tensor(_ name: String) throws -> ONNXTensor? {
        try attribute(name).map { try ONNXTensor($0.t) }
    }
}
