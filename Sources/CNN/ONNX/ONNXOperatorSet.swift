/// The ONNX operators the importer understands, each converted to engine operators.
enum ONNXOperatorSet {
    /// Converts one node: returns the values of its outputs, in order (trailing optional
    /// outputs the engine does not produce are left out).
    typealias Converter = @Sendable (ONNXNodeReader, ONNXGraphBuilder) throws -> [ONNXValue]

    static let converters: [String: Converter] = [convolution, activations, normalization, arithmetic, shapes, resizing]
        .reduce(into: [:]) { all, family in all.merge(family) { first, _ in first } }
}

extension ONNXNodeReader {
    /// The name of the node's first output, used to name the engine node.
    var outputName: String { proto.output.first ?? location }
}

extension ONNXGraphBuilder {
    func input(_ reader: ONNXNodeReader, _ index: Int) throws -> ONNXValue {
        try value(reader.requiredInput(index), at: reader.location)
    }

    func optionalInput(_ reader: ONNXNodeReader, _ index: Int) throws -> ONNXValue? {
        try reader.input(index).map { try value($0, at: reader.location) }
    }

    /// An input that must be known at load time (weights, shapes, axes), or nil when absent.
    func constantInput(_ reader: ONNXNodeReader, _ index: Int, _ role: String) throws -> ONNXTensor? {
        guard let value = try optionalInput(reader, index) else { return nil }
        guard let constant = value.constant else {
            throw reader.error("\(role) (input \(index)) must be constant: an initializer or computable at load time")
        }
        return constant
    }

    func constantIntegers(_ reader: ONNXNodeReader, _ index: Int, _ role: String) throws -> [Int]? {
        try constantInput(reader, index, role)?.integers(for: reader.location)
    }

    func apply(_ op: Operator, _ inputs: [ONNXValue], for reader: ONNXNodeReader, suffix: String = "",
               integer: Bool? = nil) throws -> ONNXValue {
        try apply(op, to: inputs, name: reader.outputName + suffix, at: reader.location, integer: integer)
    }

    /// Reshapes to a shape known at the import batch size. When the leading axis survives
    /// the reshape, it is written as 0 ("copy") so the graph keeps a free batch axis.
    func reshape(_ value: ONNXValue, to shape: [Int], keepsLeadingAxis: Bool, for reader: ONNXNodeReader,
                 suffix: String = "") throws -> ONNXValue {
        // Bound the target before the engine multiplies it out.
        guard shape.allSatisfy({ $0 >= -1 }), ONNXTensor.elementCount(shape.map { max($0, 1) }) != nil else {
            throw reader.error("invalid reshape target \(shape)")
        }
        var target = shape
        if leadingAxisIsBatch, keepsLeadingAxis, !target.isEmpty, !value.shape.isEmpty { target[0] = 0 }
        return try apply(Reshape(target), [value], for: reader, suffix: suffix)
    }
}

/// Normalizes a possibly negative axis against a rank.
func normalizedAxis(_ axis: Int, rank: Int, _ reader: ONNXNodeReader) throws -> Int {
    guard axis >= -rank, axis < rank else { throw reader.error("axis \(axis) is out of range for rank \(rank)") }
    return axis < 0 ? axis + rank : axis
}
