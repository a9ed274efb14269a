import Foundation
import SwiftProtobuf

/// Reads ONNX models (opsets 7 to 21, and 1 to 6 with legacy broadcasting) into engine graphs.
///
/// Conv, Gemm and BatchNormalization weights become the operators' Parameters, so imported
/// models can be fine-tuned and explained like native ones; constant subgraphs (shape
/// arithmetic, ConstantOfShape weights) fold away at load time. Anything the engine cannot
/// run is an `ONNXError` naming the node and the reason.
///
/// The engine graph has one input and one output. Further runtime inputs of the ONNX graph
/// are supplied as constants (`ONNXImportOptions.constantInputs`); any node output may be
/// chosen as the output. The input's first axis is the free batch axis unless
/// `leadingAxisIsBatch` is false; reshapes that carry the import batch through are rewritten
/// to copy it, so a model exported at batch 1 runs at any batch size.
public enum ONNXImporter {
    /// Opsets 1 to 6 differ from 7 for these operators only in legacy broadcasting, which
    /// the importer honours.
    public static let supportedOpsets = 1...21

    /// The ONNX operator types the importer converts (the default domain's).
    public static var supportedOperators: Set<String> { Set(ONNXOperatorSet.converters.keys) }

    public static func load(path: String, options: ONNXImportOptions = ONNXImportOptions()) throws -> Graph {
        try load(contentsOf: URL(fileURLWithPath: path), options: options)
    }

    /// Weights stored outside the file (past protobuf's 2 GB, as for RegNet-Y 128GF) are read
    /// from the file's folder.
    public static func load(contentsOf url: URL, options: ONNXImportOptions = ONNXImportOptions()) throws -> Graph {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ONNXError(url.path, "cannot read the file: \(error.localizedDescription)")
        }
        let model = try parse(data)
        return try ONNXGraphImport(model: model, options: options, folder: url.deletingLastPathComponent()).run()
    }

    public static func load(data: Data, options: ONNXImportOptions = ONNXImportOptions()) throws -> Graph {
        let model = try parse(data)
        return try ONNXGraphImport(model: model, options: options).run()
    }

    /// What a model declares, read without converting it.
    public static func info(data: Data) throws -> ONNXModelInfo {
        ONNXModelInfo(try parse(data))
    }

    static func parse(_ data: Data) throws -> Onnx_ModelProto {
        do {
            // The limit guards against deeply nested (hostile) messages overflowing the stack.
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            return try Onnx_ModelProto(serializedBytes: data, options: options)
        } catch {
            throw ONNXError(nil, "not a valid ONNX model: \(error)")
        }
    }
}

/// One import: walks the ONNX nodes in file order and converts each.
struct ONNXGraphImport {
    let model: Onnx_ModelProto
    let options: ONNXImportOptions
    /// Where external tensor data is read from; nil for a model given as bytes.
    var folder: URL? = nil

    func run() throws -> Graph {
        let graph = model.graph
        let opset = try defaultOpset()
        let builder = ONNXGraphBuilder(opset: opset, leadingAxisIsBatch: options.leadingAxisIsBatch, budget: options.budget)
        try builder.meter.checkNodes(graph.node.count)
        builder.constantOfShapeValue = options.constantOfShapeValue
        builder.consumers = consumers(of: graph)
        builder.graphOutputs = Set(graph.output.map(\.name) + [options.outputName].compactMap { $0 })

        for initializer in graph.initializer {
            builder.set(initializer.name, .constant(try ONNXTensor(withExternalData(initializer))))
            builder.initializerNames.insert(initializer.name)
        }
        guard graph.sparseInitializer.isEmpty else { throw ONNXError(nil, "sparse initializers are not supported") }
        for (name, tensor) in options.constantInputs {
            var tensor = tensor
            tensor.name = name
            builder.set(name, .constant(tensor))
        }
        let input = try primaryInput(graph)
        let inputShape = try declaredShape(of: input)
        let (graphInputShape, inputValue) = try bindInput(input.name, shape: inputShape, builder: builder)
        builder.set(input.name, inputValue)

        for proto in graph.node {
            let reader = ONNXNodeReader(proto: proto, opset: opset)
            try builder.meter.checkTime(at: reader.location)
            guard proto.domain.isEmpty || proto.domain == "ai.onnx" else {
                throw reader.error("operators of domain '\(proto.domain)' are not supported")
            }
            guard let convert = ONNXOperatorSet.converters[proto.opType] else {
                throw reader.error("operator is not supported")
            }
            let outputs = try convert(reader, builder)
            for (index, value) in outputs.enumerated() where index < proto.output.count && !proto.output[index].isEmpty {
                builder.set(proto.output[index], value)
            }
        }

        guard let outputName = options.outputName ?? graph.output.first?.name else {
            throw ONNXError(nil, "the graph has no output")
        }
        guard graph.output.contains(where: { $0.name == outputName })
            || graph.node.contains(where: { $0.output.contains(outputName) }) else {
            throw ONNXError(outputName, "neither a graph output nor a node output")
        }
        let output = try builder.value(outputName, at: outputName)
        let outputNode = builder.nodeName(for: output, hint: outputName)
        do {
            return try Graph(name: graph.name.isEmpty ? "onnx" : graph.name, inputName: input.name,
                             inputShape: graphInputShape, nodes: Self.pruned(builder.nodes, keeping: outputNode),
                             outputName: outputNode)
        } catch let error as GraphError {
            throw ONNXError(error.node, error.reason)
        }
    }

    /// The tensor with its external data read in: `location` must name a file inside the
    /// model's folder, and `offset` and `length` a range within it.
    private func withExternalData(_ proto: Onnx_TensorProto) throws -> Onnx_TensorProto {
        guard proto.dataLocation == .external else { return proto }
        guard let folder else {
            throw ONNXError(proto.name, "external tensor data can only be read from a model loaded from its file, beside its data")
        }
        let entries = Dictionary(proto.externalData.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        guard let location = entries["location"], !location.isEmpty, !location.hasPrefix("/"),
              !location.split(separator: "/").contains("..") else {
            throw ONNXError(proto.name, "external data location '\(entries["location"] ?? "")' must name a file in the model's folder")
        }
        let (offset, declaredLength) = (entries["offset"].map { Int($0) } ?? 0, entries["length"].map { Int($0) })
        let width = ONNXTensor.byteWidth(of: proto.dataType)
        guard let offset, offset >= 0, let width, let count = ONNXTensor.elementCount(proto.dims.map { Int(clamping: $0) }),
              declaredLength.map({ $0 == count * width }) ?? true else {
            throw ONNXError(proto.name, "external data offset or length is invalid for shape \(proto.dims)")
        }
        let length = count * width
        let bytes: Data
        do {
            let handle = try FileHandle(forReadingFrom: folder.appendingPathComponent(location))
            defer { try? handle.close() }
            try handle.seek(toOffset: UInt64(offset))
            bytes = try handle.read(upToCount: length) ?? Data()
        } catch {
            throw ONNXError(proto.name, "cannot read external data from '\(location)': \(error.localizedDescription)")
        }
        guard bytes.count == length else {
            throw ONNXError(proto.name, "'\(location)' holds \(bytes.count) bytes at offset \(offset), the tensor needs \(length)")
        }
        var resolved = proto
        resolved.rawData = bytes
        resolved.dataLocation = .default
        resolved.externalData = []
        return resolved
    }

    /// The nodes the output depends on: other graph outputs, and the Softmax after chosen
    /// logits, are not computed.
    static func pruned(_ nodes: [Node], keeping output: String) -> [Node] {
        let byName = Dictionary(nodes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var needed: Set<String> = []
        var pending = [output]
        while let name = pending.popLast() {
            guard needed.insert(name).inserted, let node = byName[name] else { continue }
            pending += node.inputs
        }
        return nodes.filter { needed.contains($0.name) }
    }

    private func defaultOpset() throws -> Int {
        let version = model.opsetImport.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }.map { Int($0.version) }
        guard let version else { throw ONNXError(nil, "the model imports no default-domain opset") }
        guard ONNXImporter.supportedOpsets.contains(version) else {
            throw ONNXError(nil, "opset \(version) is outside the supported \(ONNXImporter.supportedOpsets)")
        }
        return version
    }

    private func consumers(of graph: Onnx_GraphProto) -> [String: [(operatorType: String, inputIndex: Int)]] {
        var consumers: [String: [(operatorType: String, inputIndex: Int)]] = [:]
        for node in graph.node {
            for (index, name) in node.input.enumerated() where !name.isEmpty {
                consumers[name, default: []].append((node.opType, index))
            }
        }
        return consumers
    }

    private func primaryInput(_ graph: Onnx_GraphProto) throws -> Onnx_ValueInfoProto {
        let initializers = Set(graph.initializer.map(\.name))
        let runtime = graph.input.filter { !initializers.contains($0.name) && options.constantInputs[$0.name] == nil }
        if let name = options.inputName {
            guard let input = runtime.first(where: { $0.name == name }) else {
                throw ONNXError(name, "not a runtime input of the graph")
            }
            return input
        }
        guard let first = runtime.first else { throw ONNXError(nil, "the graph has no runtime input") }
        if runtime.count > 1 {
            let rest = runtime.dropFirst().map { "'\($0.name)'" }.joined(separator: ", ")
            throw ONNXError(first.name, "the graph has further runtime inputs (\(rest)); the engine takes one, so supply the others as constant inputs")
        }
        return first
    }

    private func declaredShape(of input: Onnx_ValueInfoProto) throws -> [Int] {
        guard case let .tensorType(type)? = input.type.value else {
            throw ONNXError(input.name, "the input is not a tensor")
        }
        let elementType = Onnx_TensorProto.DataType(rawValue: Int(type.elemType))
        guard elementType == .float || elementType == .float16 || elementType == .double else {
            throw ONNXError(input.name, "input element type \(elementType.map { "\($0)" } ?? "\(type.elemType)") is not floating point; the engine computes in Float32")
        }
        guard type.hasShape else { throw ONNXError(input.name, "the input has no declared shape") }
        return try type.shape.dim.enumerated().map { axis, dim in
            if case let .dimValue(value)? = dim.value, value > 0 { return Int(value) }
            // A symbolic batch axis is fine: the engine's batch axis is free. Shapes are
            // tracked at batch 1 then (or at the declared size when there is one).
            guard axis == 0, options.leadingAxisIsBatch else {
                throw ONNXError(input.name, "axis \(axis) of the input has no fixed size; the engine needs fixed sizes off the batch axis")
            }
            return 1
        }
    }

    /// The engine graph's per-sample input shape, and the value the ONNX input stands for.
    private func bindInput(_ name: String, shape: [Int], builder: ONNXGraphBuilder) throws -> ([Int], ONNXValue) {
        builder.reserve(name)
        if options.leadingAxisIsBatch {
            guard !shape.isEmpty else { throw ONNXError(name, "a scalar input has no batch axis") }
            return (Array(shape.dropFirst()), .node(name, shape: shape))
        }
        // The engine input is [1] + shape; one reshape drops the extra axis.
        let unbatched = builder.uniqueName("\(name)/unbatched")
        builder.appendNode(Node(name: unbatched, op: Reshape(shape), inputs: [name]))
        return (shape, .node(unbatched, shape: shape))
    }
}
