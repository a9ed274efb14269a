/// A model's declared interface, for inspection and for callers that must supply inputs.
public struct ONNXModelInfo: Sendable {
    public struct Node: Sendable {
        public let operatorType: String
        public let inputs: [String]
        public let outputs: [String]
    }

    /// Graph inputs that are not initializers, in declaration order.
    public let inputs: [String]
    /// Each input's element type as ONNX names it ("float", "int64", "bool", ...).
    public let inputElementTypes: [String]
    public let outputs: [String]
    /// Each output's element type as ONNX names it ("float", "int64", "bool", ...).
    public let outputElementTypes: [String]
    /// Operator types in first-use order.
    public let operatorTypes: [String]
    /// Every node in file order.
    public let nodes: [Node]
    /// The default-domain opset, nil when the model imports none.
    public let opset: Int?

    init(_ model: Onnx_ModelProto) {
        let initializers = Set(model.graph.initializer.map(\.name))
        let runtimeInputs = model.graph.input.filter { !initializers.contains($0.name) }
        inputs = runtimeInputs.map(\.name)
        inputElementTypes = runtimeInputs.map(Self.elementType)
        outputs = model.graph.output.map(\.name)
        outputElementTypes = model.graph.output.map(Self.elementType)
        nodes = model.graph.node.map { Node(operatorType: $0.opType, inputs: $0.input, outputs: $0.output) }
        var seen = Set<String>()
        operatorTypes = model.graph.node.map(\.opType).filter { seen.insert($0).inserted }
        opset = model.opsetImport.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }.map { Int($0.version) }
    }

    private static func elementType(_ value: Onnx_ValueInfoProto) -> String {
        guard case let .tensorType(type)? = value.type.value else { return "none" }
        return Onnx_TensorProto.DataType(rawValue: Int(type.elemType)).map { "\($0)" } ?? "unknown"
    }
}
