/// Choices the ONNX file cannot make for the importer.
public struct ONNXImportOptions {
    /// The graph input that becomes the engine graph's input; by default the first graph input
    /// that is neither an initializer nor listed in `constantInputs`.
    public var inputName: String?
    /// The tensor that becomes the engine graph's output: by default the first graph output;
    /// any node output may be named (logits before a final Softmax, features for a new head).
    public var outputName: String?
    /// Values for further graph inputs, folded in as constants (the engine graph has one input).
    public var constantInputs: [String: ONNXTensor]
    /// Whether the input's first axis is the batch axis, free at run time (image models).
    /// When false the whole ONNX input shape is fixed and the engine graph's input gains a
    /// leading batch axis of size 1 of its own (graphs on arbitrary tensors).
    public var leadingAxisIsBatch: Bool
    /// Replaces the value of a ConstantOfShape node's output (weights generated at load time).
    public var constantOfShapeValue: ((ONNXConstantOfShapeSite) -> Tensor?)?
    /// What computing constants at load time may cost, and how long the import may take.
    public var budget: ONNXImportBudget

    public init(inputName: String? = nil, outputName: String? = nil, constantInputs: [String: ONNXTensor] = [:],
                leadingAxisIsBatch: Bool = true, constantOfShapeValue: ((ONNXConstantOfShapeSite) -> Tensor?)? = nil,
                budget: ONNXImportBudget = ONNXImportBudget()) {
        self.inputName = inputName
        self.outputName = outputName
        self.constantInputs = constantInputs
        self.leadingAxisIsBatch = leadingAxisIsBatch
        self.constantOfShapeValue = constantOfShapeValue
        self.budget = budget
    }
}

/// One ConstantOfShape node, as `ONNXImportOptions.constantOfShapeValue` sees it.
public struct ONNXConstantOfShapeSite {
    /// The node's position among the graph's ConstantOfShape nodes, in file order.
    public let index: Int
    public let output: String
    public let shape: [Int]
    /// Every node input the output feeds: operator type and input position.
    public let consumers: [(operatorType: String, inputIndex: Int)]
}
