/// A tensor of the ONNX graph during import: known now (an initializer or a folded
/// subgraph), or the output of an engine node with its shape at the import batch size.
enum ONNXValue {
    case constant(ONNXTensor)
    case node(String, shape: [Int])

    var shape: [Int] {
        switch self {
        case let .constant(tensor): return tensor.shape
        case let .node(_, shape): return shape
        }
    }

    var constant: ONNXTensor? {
        if case let .constant(tensor) = self { return tensor }
        return nil
    }
}

/// Accumulates engine nodes while the importer walks the ONNX nodes.
///
/// Every operator application whose inputs are all constants is evaluated on the spot, so
/// shape arithmetic (Shape -> Gather -> Concat -> Reshape) and generated weights fold away
/// and never reach the engine graph.
final class ONNXGraphBuilder {
    let opset: Int
    /// Whether axis 0 of the graph input is the free batch axis.
    let leadingAxisIsBatch: Bool
    private(set) var nodes: [Node] = []
    private var values: [String: ONNXValue] = [:]
    private var usedNames: Set<String> = []
    private var materialized: [String: String] = [:]
    private var parametersByName: [String: Parameter] = [:]
    /// The graph's initializers: the exported model's weights. One that a computed node reads as
    /// data becomes a trainable Constant.
    var initializerNames: Set<String> = []
    /// The graph's outputs, which fusions must leave computed.
    var graphOutputs: Set<String> = []
    /// Who reads each ONNX tensor, for `ONNXConstantOfShapeSite` and fusions.
    var consumers: [String: [(operatorType: String, inputIndex: Int)]] = [:]
    var constantOfShapeValue: ((ONNXConstantOfShapeSite) -> Tensor?)?
    var constantOfShapeCount = 0
    /// Bounds the constants computed at load time, so that a small hostile file cannot make the
    /// importer allocate or compute without limit.
    let meter: ONNXImportMeter

    init(opset: Int, leadingAxisIsBatch: Bool, budget: ONNXImportBudget = ONNXImportBudget()) {
        self.opset = opset
        self.leadingAxisIsBatch = leadingAxisIsBatch
        meter = ONNXImportMeter(budget: budget)
    }

    func reserve(_ name: String) { usedNames.insert(name) }

    func set(_ name: String, _ value: ONNXValue) { values[name] = value }

    func appendNode(_ node: Node) { nodes.append(node) }

    /// Replaces the node last added, which must be `name` (a peephole fusing the node after it).
    func replaceLastNode(named name: String, with node: Node) {
        precondition(nodes.last?.name == name && node.name == name)
        nodes[nodes.count - 1] = node
    }

    func value(_ name: String, at location: String) throws -> ONNXValue {
        guard let value = values[name] else {
            throw ONNXError(location, "input '\(name)' is produced by no node before it, or by an output this importer does not provide")
        }
        return value
    }

    func uniqueName(_ base: String) -> String {
        var name = base.isEmpty ? "node" : base
        var n = 1
        while usedNames.contains(name) { n += 1; name = "\(base)_\(n)" }
        usedNames.insert(name)
        return name
    }

    /// A Parameter for an initializer, shared by every operator that uses the same tensor in
    /// the same form (a transposed or scaled copy is a Parameter of its own).
    func parameter(_ name: String, _ value: Tensor) -> Parameter {
        if let existing = parametersByName[name], existing.value == value { return existing }
        let parameter = Parameter(name: parametersByName[name] == nil ? name : uniqueParameterName(name), value: value)
        parametersByName[parameter.name] = parameter
        return parameter
    }

    private func uniqueParameterName(_ base: String) -> String {
        var n = 2
        while parametersByName["\(base)_\(n)"] != nil { n += 1 }
        return "\(base)_\(n)"
    }

    /// The engine node computing `value`; a constant becomes a Constant node the first time.
    func nodeName(for value: ONNXValue, hint: String) -> String {
        switch value {
        case let .node(name, _):
            return name
        case let .constant(tensor):
            let key = tensor.name.isEmpty ? hint : tensor.name
            if let name = materialized[key], !tensor.name.isEmpty { return name }
            let name = uniqueName(key)
            let isWeight = initializerNames.contains(tensor.name) && !tensor.isInteger
            nodes.append(Node(name: name, op: isWeight ? Constant(weight: parameter(tensor.name, tensor.tensor)) : Constant(tensor.tensor),
                              inputs: []))
            materialized[key] = name
            return name
        }
    }

    /// Applies `op` to `inputs`: folded when every input is constant, else a new node.
    /// `integer` marks a folded result as integer data (the engine computes it in Float32).
    func apply(_ op: Operator, to inputs: [ONNXValue], name: String, at location: String,
               integer: Bool? = nil) throws -> ONNXValue {
        let shapes = inputs.map(\.shape)
        let shape: [Int]
        do {
            shape = try op.outputShape(for: shapes)
        } catch let error as ShapeError {
            throw ONNXError(location, "\(op.kind) on \(shapes): \(error.reason)")
        }
        guard shape.allSatisfy({ $0 >= 0 }), ONNXTensor.elementCount(shape) != nil else {
            throw ONNXError(location, "\(op.kind) gives shape \(shape), which is invalid or too large")
        }
        let constants = inputs.compactMap(\.constant)
        if !inputs.isEmpty, constants.count == inputs.count {
            return .constant(try fold(op, constants, shape: shape, name: name, at: location,
                                      integer: integer ?? constants[0].isInteger))
        }
        let unique = uniqueName(name)
        let inputNames = inputs.enumerated().map { nodeName(for: $1, hint: "\(unique)/input\($0)") }
        nodes.append(Node(name: unique, op: op, inputs: inputNames))
        return .node(unique, shape: shape)
    }

    /// Charges a constant of `shape` computed at load time (work: one unit per element, plus
    /// `work`) against the import's budget.
    func accountForComputedConstant(_ shape: [Int], work: Int = 0, at location: String) throws {
        try meter.charge(elements: ONNXTensor.elementCount(shape) ?? Int.max, work: work, at: location)
    }

    private func fold(_ op: Operator, _ inputs: [ONNXTensor], shape: [Int], name: String, at location: String,
                      integer: Bool) throws -> ONNXTensor {
        let elements = ONNXTensor.elementCount(shape) ?? Int.max
        try accountForComputedConstant(shape, work: op.foldingWork(inputShapes: inputs.map(\.shape), outputElements: elements),
                                       at: location)
        // Integers pass through Float32 exactly only up to 2^24; shape arithmetic stays far below.
        for input in inputs {
            if case let .int64(values) = input.elements, values.contains(where: { abs($0) > 1 << 24 }) {
                throw ONNXError(location, "integer tensor '\(input.name)' has values too large to fold")
            }
        }
        var output = Tensor(zeros: shape)
        op.forward(inputs.map(\.tensor), into: &output, context: ForwardContext(isTraining: false))
        if integer {
            return ONNXTensor(name: name, shape: shape, elements: .int64(output.scalars.map { Int64($0.rounded(.towardZero)) }))
        }
        return ONNXTensor(name: name, output)
    }
}
