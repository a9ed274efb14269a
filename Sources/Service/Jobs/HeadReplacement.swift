import CNN

/// Which part of the base model a job replaces.
public enum HeadChoice: String, Codable, Sendable, CaseIterable {
    /// Cut at the last spatial feature map and build a new classifier there (Keras'
    /// `include_top=False`, fastai's `cut` and `create_head`).
    case classifier
    /// Replace only the final dense layer; the dense layers before it stay in the body.
    case last
}

/// How a new classifier head reduces the feature map at the cut.
public enum HeadPooling: String, Codable, Sendable, CaseIterable {
    /// As the base model's own head did: global average pooling if it pooled, else flatten.
    case auto
    /// Every position of every channel, as `flatten` does.
    case flatten
    /// Global average pooling.
    case average
    /// Global average and global max pooling side by side (fastai's `AdaptiveConcatPool2d`).
    case concat
}

/// The new head of a `classifier` job: pooling, an optional hidden layer, dropout, the output.
public struct HeadDesign: Sendable, Equatable {
    public var pooling: HeadPooling
    /// Units of the hidden dense layer (ReLU); 0 for none.
    public var hiddenUnits: Int
    /// Dropout before the output layer; half of it before the hidden layer, as fastai's `create_head`.
    public var dropout: Float

    public init(pooling: HeadPooling = .auto, hiddenUnits: Int = 0, dropout: Float = 0) {
        self.pooling = pooling
        self.hiddenUnits = hiddenUnits
        self.dropout = dropout
    }

    /// The head's layers, named `head_*` (with a number when the body already has the name),
    /// the first reading `cut`.
    func layers(cut: ClassifierCut, classes: Int, taken: Set<String>) -> [LayerSpec] {
        func name(_ base: String) -> String {
            var candidate = "head_\(base)", n = 2
            while taken.contains(candidate) { (candidate, n) = ("head_\(base)\(n)", n + 1) }
            return candidate
        }
        func layer(_ type: String, _ base: String, inputs: [String]? = nil, configure: (inout LayerSpec) -> Void = { _ in }) -> LayerSpec {
            var spec = LayerSpec(type: type)
            spec.name = name(base)
            spec.inputs = inputs
            configure(&spec)
            return spec
        }
        var layers: [LayerSpec]
        switch pooling == .auto ? (cut.pools ? .average : .flatten) : pooling {
        case .average:
            layers = [layer("global_avgpool", "pool", inputs: [cut.node]), layer("flatten", "flatten")]
        case .concat:
            let average = layer("global_avgpool", "avgpool", inputs: [cut.node]), maximum = layer("global_maxpool", "maxpool", inputs: [cut.node])
            layers = [average, maximum, layer("concat", "concat", inputs: [average.name!, maximum.name!]), layer("flatten", "flatten")]
        case .flatten, .auto:
            layers = [layer("flatten", "flatten", inputs: [cut.node])]
        }
        if hiddenUnits > 0 {
            if dropout > 0 { layers.append(layer("dropout", "dropout1") { $0.rate = dropout / 2 }) }
            layers.append(layer("dense", "hidden") { $0.units = hiddenUnits; $0.activation = "relu" })
        }
        if dropout > 0 { layers.append(layer("dropout", "dropout")  { $0.rate = dropout }) }
        layers.append(layer("dense", "output") { $0.units = classes })
        return layers
    }
}

/// Transfer learning's graph surgery, on any Graph, native or imported: with `classifier`,
/// everything after the classifier cut is replaced by a new head; with `last`, only the final
/// dense layer, by a freshly initialized one with one output per new class (nodes after it,
/// such as softmax or dropout, are kept).
public enum HeadReplacement {
    public struct Result {
        public let graph: Graph
        public let choice: HeadChoice
        /// Where a classifier head was cut; nil with `last`.
        public let cut: ClassifierCut?
        /// The new head's layers as the JSON format writes them; empty with `last`.
        public let headLayers: [LayerSpec]
        /// The nodes that train from the first stage: the new head's (with `last`, the replaced layer).
        public let headNodes: [String]
        /// The body's parameterized nodes in order, split into contiguous layer groups.
        public let bodyGroups: [[String]]
    }

    public static func replacing(of graph: Graph, classes: Int, choice: HeadChoice, design: HeadDesign = HeadDesign(),
                                 groups: Int = 3, seed: UInt64) throws -> Result {
        guard classes >= 2 else { throw GraphError(node: graph.name, "a classifier needs at least two classes") }
        switch choice {
        case .last: return try replacingLast(of: graph, classes: classes, groups: groups, seed: seed)
        case .classifier:
            let cut = try graph.classifierCut()
            let removed = Set(cut.removed)
            let layers = design.layers(cut: cut, classes: classes, taken: Set(graph.nodes.map(\.name).filter { !removed.contains($0) }))
            let replaced = try graph.replacingTail(at: cut.node, removing: cut.removed, with: layers, seed: seed)
            let headNodes = layers.map { $0.name! }
            let body = replaced.nodes.filter { !headNodes.contains($0.name) }
            return Result(graph: replaced, choice: .classifier, cut: cut, headLayers: layers, headNodes: headNodes,
                          bodyGroups: layerGroups(body, count: groups))
        }
    }

    /// The body's parameterized nodes in `count` contiguous groups of about as many layers,
    /// where a layer is a convolution or dense layer with the normalizations and other weighted
    /// nodes after it, so that a BatchNorm always trains at its convolution's rate.
    static func layerGroups(_ body: [Node], count: Int) -> [[String]] {
        var layers: [[String]] = []
        for node in body where !node.op.parameters.isEmpty {
            if node.op is Conv2D || node.op is Dense || layers.isEmpty {
                layers.append([node.name])
            } else {
                layers[layers.count - 1].append(node.name)
            }
        }
        let k = min(count, layers.count)
        return (0..<k).map { i in Array(layers[(i * layers.count / k)..<((i + 1) * layers.count / k)].joined()) }
    }

    private static func replacingLast(of graph: Graph, classes: Int, groups: Int, seed: UInt64) throws -> Result {
        let parameterized = graph.nodes.filter { !$0.op.parameters.isEmpty }
        guard let last = parameterized.last, let dense = last.op as? Dense else {
            throw GraphError(node: graph.name, "the last layer with weights is not a dense layer, so there is no head to replace")
        }
        var random = RandomSource(seed: seed)
        let fanIn = dense.inFeatures
        let bound = (6 / Float(fanIn)).squareRoot()
        let weight = Parameter(name: dense.weight.name, value: Tensor(
            shape: [classes, fanIn], scalars: (0..<(classes * fanIn)).map { _ in (2 * random.nextUniform() - 1) * bound }))
        let biasBound = 1 / Float(fanIn).squareRoot()
        let bias = Parameter(name: dense.bias?.name ?? "\(last.name).bias", value: Tensor(
            shape: [classes], scalars: (0..<classes).map { _ in (2 * random.nextUniform() - 1) * biasBound }))
        let head = Node(name: last.name, op: Dense(weight: weight, bias: bias, activation: dense.activation,
                                                         appliesToLastAxis: dense.appliesToLastAxis), inputs: last.inputs)
        let nodes = graph.nodes.map { $0.name == last.name ? head : $0 }
        let replaced = try Graph(name: graph.name, inputName: graph.inputName, inputShape: graph.inputShape, nodes: nodes,
                                 outputName: graph.outputName)
        return Result(graph: replaced, choice: .last, cut: nil, headLayers: [], headNodes: [last.name],
                      bodyGroups: layerGroups(nodes.filter { $0.name != last.name }, count: groups))
    }
}

extension Architecture {
    /// The same architecture with the named dense layer resized to `units` outputs, always with a bias.
    func replacingHead(_ head: String, units: Int) throws -> Architecture {
        guard let index = layerNames.firstIndex(of: head), layers[index].type == "dense" else {
            throw GraphError(node: head, "the architecture has no dense layer by this name")
        }
        var copy = self
        copy.layers[index].units = units
        copy.layers[index].useBias = true
        return copy
    }

    /// The architecture with only the layers named in `kept`, and `head` appended; every kept
    /// layer is named explicitly, so that no default name (`<type><position>`) shifts.
    func keeping(_ kept: Set<String>, appending head: [LayerSpec]) -> Architecture {
        var copy = self
        copy.layers = zip(layerNames, layers).compactMap { name, layer in
            guard kept.contains(name) else { return nil }
            var named = layer
            named.name = name
            return named
        } + head
        return copy
    }
}
