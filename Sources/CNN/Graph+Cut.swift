/// Where a classifier's feature extractor ends, as Keras' `include_top=False` and fastai's
/// `cut` place it: at the last spatial feature map that everything after it reads through.
public struct ClassifierCut: Sendable, Equatable {
    /// The node whose output a new head reads.
    public let node: String
    /// The old head: the nodes after the cut that the output depends on, in graph order.
    public let removed: [String]
    /// The feature map at the cut, [C, H, W].
    public let featureShape: [Int]
    /// Whether the old head pooled the feature map to one value per channel before its dense
    /// layers (global pooling, a mean over the plane), rather than flattening it.
    public let pools: Bool
}

extension Graph {
    /// The classifier cut: the last node whose output is still spatial (rank 4, more than one
    /// position) such that the nodes after it read only it and each other, so that removing
    /// them leaves the body whole. A 1x1 convolution that scores the classes right before the
    /// pooling (SqueezeNet's `conv10`), and dropout right at the cut, belong to the head.
    public func classifierCut() throws -> ClassifierCut {
        let shapes = try self.shapes(batch: 1)
        let needed = ancestors(of: outputName)
        // Everything computed from a pooling to one value per channel alone is classifier,
        // though it may be rank 4 again (ConvNeXt's LayerNorm runs channels-last on
        // [N, 1, 1, C]). A node that also reads a feature map is not: squeeze-and-excitation
        // scales the map by its pooled weights, and the map goes on through the body.
        let dependsOnInput = inputDependents()
        var pooled: Set<String> = []
        for node in nodes {
            let data = node.inputs.filter(dependsOnInput.contains)
            if Graph.poolsPlane(node, shapes: shapes) || (!data.isEmpty && data.allSatisfy(pooled.contains)) {
                pooled.insert(node.name)
            }
        }
        func isSpatial(_ name: String) -> Bool {
            guard let shape = shapes[name], shape.count == 4, !pooled.contains(name) else { return false }
            return shape[2] * shape[3] > 1
        }
        // Class scores may come out as [N, classes] or [N, classes, 1, 1].
        let classes = shapes[outputName]?.dropFirst().reduce(1, *) ?? 0
        let byName = Dictionary(nodes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for candidate in nodes.reversed() where needed.contains(candidate.name) && isSpatial(candidate.name) {
            guard var tail = tail(after: candidate.name, within: needed) else { continue }
            var cut = candidate.name
            // Through activations and dropout back to a class-scoring 1x1 convolution.
            var walk = candidate
            while walk.op is ActivationLayer || walk.op is Dropout, walk.inputs.count == 1, let previous = byName[walk.inputs[0]] {
                walk = previous
            }
            if let conv = walk.op as? Conv2D, conv.kernel == (1, 1), conv.outChannels == classes, walk.inputs.count == 1,
               isSpatial(walk.inputs[0]), let wider = self.tail(after: walk.inputs[0], within: needed) {
                (cut, tail) = (walk.inputs[0], wider)
            }
            // Dropout right at the cut is the old classifier's (torchvision's SqueezeNet and AlexNet heads start with one).
            while let node = byName[cut], node.op is Dropout, node.inputs.count == 1, isSpatial(node.inputs[0]),
                  let wider = self.tail(after: node.inputs[0], within: needed) {
                (cut, tail) = (node.inputs[0], wider)
            }
            let shape = shapes[cut]!
            let pools = tail.contains { Graph.poolsPlane(byName[$0]!, shapes: shapes) }
            return ClassifierCut(node: cut, removed: nodes.map(\.name).filter(tail.contains),
                                 featureShape: Array(shape.dropFirst()), pools: pools)
        }
        throw GraphError(node: name, "no spatial feature map feeds the classifier, so there is no place to cut it "
            + "(head: last replaces only the final dense layer)")
    }

    /// Whether a node reduces each channel's plane to one value: global pooling, a mean over
    /// the plane's axes, a pooling whose output is 1x1.
    static func poolsPlane(_ node: Node, shapes: [String: [Int]]) -> Bool {
        switch node.op {
        case is GlobalAvgPool, is GlobalMaxPool: return true
        case let mean as ReduceMean:
            guard let input = node.inputs.first.flatMap({ shapes[$0] }), input.count == 4 else { return false }
            let axes = Set((mean.axes ?? [0, 1, 2, 3]).map { $0 < 0 ? $0 + 4 : $0 })
            return axes.isSuperset(of: [2, 3])
        case is AvgPool2D, is MaxPool2D:
            guard let output = shapes[node.name], output.count == 4 else { return false }
            return output[2] * output[3] == 1
        default: return false
        }
    }

    /// The nodes whose output `node`'s output depends on, `node` included.
    func ancestors(of node: String) -> Set<String> {
        let byName = Dictionary(nodes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var found: Set<String> = []
        var stack = [node]
        while let name = stack.popLast() {
            guard found.insert(name).inserted, let n = byName[name] else { continue }
            stack += n.inputs
        }
        return found
    }

    /// The graph input and every node whose output depends on it (not constants).
    private func inputDependents() -> Set<String> {
        var found: Set<String> = [inputName]
        for node in nodes where node.inputs.contains(where: found.contains) {
            found.insert(node.name)
        }
        return found
    }

    /// The nodes of `needed` after `cut` that depend on it, when every one of them reads only
    /// the cut, each other, or nodes that do not depend on the input (constants); nil when
    /// some path to the output goes around the cut.
    private func tail(after cut: String, within needed: Set<String>) -> Set<String>? {
        var tail: Set<String> = []
        let dependsOnInput = inputDependents()
        for node in nodes where needed.contains(node.name) && node.name != cut {
            let readsTail = node.inputs.contains { $0 == cut || tail.contains($0) }
            guard readsTail else { continue }
            guard node.inputs.allSatisfy({ $0 == cut || tail.contains($0) || !dependsOnInput.contains($0) }) else { return nil }
            tail.insert(node.name)
        }
        // The output itself must be in the tail, or the cut is the output.
        return tail.contains(outputName) ? tail : nil
    }

    /// This graph with the nodes of `removed` taken out and `layers` appended (the first reads
    /// `cut` unless it names its inputs; each later one the layer before, as in the JSON
    /// format), freshly initialized from `seed`; the last layer is the new output. Nodes the new
    /// output no longer depends on are dropped. The kept nodes are shared with this graph.
    public func replacingTail(at cut: String, removing removed: [String], with layers: [LayerSpec],
                              seed: UInt64) throws -> Graph {
        let gone = Set(removed)
        var shapes = try self.shapes(batch: 1)
        var random = RandomSource(seed: seed)
        var result = nodes.filter { !gone.contains($0.name) }
        var previous = cut
        for (index, spec) in layers.enumerated() {
            let name = spec.name ?? "\(spec.type)\(result.count + 1)"
            guard !result.contains(where: { $0.name == name }), name != inputName else {
                throw GraphError(node: name, "the new head's layer name is taken")
            }
            let inputs = spec.inputs ?? [previous]
            guard let inputShapes = Optional(inputs.compactMap { shapes[$0] }), inputShapes.count == inputs.count,
                  inputs.allSatisfy({ !gone.contains($0) }) else {
                throw GraphError(node: name, "layer \(index + 1) of the new head reads a node that is not in the body")
            }
            let op = try spec.makeOperator(name: name, inputShapes: inputShapes, random: &random)
            do {
                shapes[name] = try op.outputShape(for: inputShapes)
            } catch let error as ShapeError {
                throw GraphError(node: name, "\(spec.type): \(error.reason)")
            }
            result.append(Node(name: name, op: op, inputs: inputs))
            previous = name
        }
        let pruned = try Graph(name: name, inputName: inputName, inputShape: inputShape, nodes: result, outputName: previous)
        let kept = pruned.ancestors(of: previous)
        return try Graph(name: name, inputName: inputName, inputShape: inputShape,
                         nodes: pruned.nodes.filter { kept.contains($0.name) }, outputName: previous)
    }
}
