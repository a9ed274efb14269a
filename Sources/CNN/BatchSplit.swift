/// Where a batch stops running one image at a time.
///
/// A batch run layer by layer loses what makes batch 1 fast on a CPU: while planes are large,
/// one image's activations stay in cache from one layer to the next, and the batch's do not
/// (SqueezeNet at batch 8 took 13 ms per image against 9 at batch 1, its 55x55 layers most).
/// Batching pays where weights outweigh activations: small planes, whose GEMMs are too narrow
/// to reuse what they stream of the weights, and dense layers. So a batch runs its images one
/// by one through the graph's head, up to the first point where a single small activation is
/// all that is live, and together through the tail.
struct BatchSplit {
    let head: Graph
    let tail: Graph

    /// The split after the first node whose output is all that later nodes read and whose
    /// planes hold at most `maxPlane` positions; nil when there is none (or nothing after it).
    init?(_ graph: Graph, maxPlane: Int = 196) throws {
        let shapes = try graph.shapes(batch: 1)
        var lastUse = [graph.inputName: -1]
        for (i, node) in graph.nodes.enumerated() {
            for input in node.inputs { lastUse[input] = i }
        }
        lastUse[graph.outputName] = graph.nodes.count
        var live: Set<String> = lastUse[graph.inputName]! >= 0 ? [graph.inputName] : []
        for (i, node) in graph.nodes.enumerated().dropLast() {
            for input in node.inputs where lastUse[input] == i { live.remove(input) }
            if lastUse[node.name, default: -1] > i { live.insert(node.name) }
            let shape = shapes[node.name]!
            guard live == [node.name], shape.count == 4, shape[2] * shape[3] <= maxPlane else { continue }
            head = try Graph(name: graph.name, inputName: graph.inputName, inputShape: graph.inputShape,
                             nodes: Array(graph.nodes[...i]), outputName: node.name)
            tail = try Graph(name: graph.name, inputName: node.name, inputShape: Array(shape.dropFirst()),
                             nodes: Array(graph.nodes[(i + 1)...]), outputName: graph.outputName)
            return
        }
        return nil
    }
}
