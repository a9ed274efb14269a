/// Cascading randomization (Adebayo et al., "Sanity Checks for Saliency Maps", 2018): the
/// learned weights of a model's layers re-initialized one by one from the output down, so that
/// a saliency method can be watched for whether its map depends on what the model learned.
extension Graph {
    /// The layers that cascading randomization re-initializes, from the top (nearest the
    /// output) down: the convolutions and dense layers up to `node` (the graph's output by
    /// default), in reverse topological order. Normalization keeps its learned scale and
    /// statistics: it rescales whatever the randomized layers give it.
    public func randomizableLayers(upTo node: String? = nil) -> [String] {
        let end = node ?? outputName
        var upstream: Set<String> = [end]
        for node in nodes.reversed() where upstream.contains(node.name) { upstream.formUnion(node.inputs) }
        return nodes.reversed().filter { upstream.contains($0.name) && Self.weights(of: $0.op) != nil }.map(\.name)
    }

    /// Re-initializes `layer`'s weights as a new layer of the engine is (He-uniform, bias uniform
    /// within 1 / sqrt(fan-in)), from `seed`. Writes the graph's Parameters: call it on a copy,
    /// never on a model that serves.
    public func randomize(layer name: String, seed: UInt64) throws {
        guard let node = node(named: name), let (weight, bias) = Self.weights(of: node.op) else {
            throw GraphError(node: name, "is not a convolution or dense layer of the graph")
        }
        var random = RandomSource(seed: seed)
        let fanIn = weight.value.count / max(weight.value.shape.first ?? 1, 1)
        weight.value = LayerSpec.heUniform(weight.value.shape, fanIn: fanIn, &random)
        if let bias { bias.value = LayerSpec.uniformBias(bias.value.count, fanIn: fanIn, &random).reshaped(to: bias.value.shape) }
    }

    private static func weights(of op: Operator) -> (weight: Parameter, bias: Parameter?)? {
        switch op {
        case let conv as Conv2D: return (conv.weight, conv.bias)
        case let dense as Dense: return (dense.weight, dense.bias)
        default: return nil
        }
    }
}
