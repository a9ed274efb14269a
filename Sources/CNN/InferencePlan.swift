/// Buffers for one input shape, assigned so that node outputs whose lifetimes do not overlap
/// share storage. Built once per shape; later runs reuse it (a buffer that grows back takes
/// fresh storage of its capacity from the allocator, see `Tensor.reshape(to:)`).
final class InferencePlan {
    private let shapes: [[Int]]
    private let slotOfNode: [Int]
    /// Per node, the slot of each input; nil stands for the graph input.
    private let inputSlots: [[Int?]]
    /// Per node, the shape of each input, for `memory`.
    private let inputShapes: [[[Int]]]
    private let outputSource: Int?
    private var slots: [Tensor]
    private let context = ForwardContext(isTraining: false)

    init(graph: Graph, batch: Int) throws {
        let shapeByName = try graph.shapes(batch: batch)
        shapes = graph.nodes.map { shapeByName[$0.name]! }
        inputShapes = graph.nodes.map { $0.inputs.map { shapeByName[$0]! } }
        let index = Dictionary(uniqueKeysWithValues: graph.nodes.enumerated().map { ($1.name, $0) })

        var lastUse = [Int](repeating: -1, count: graph.nodes.count)
        for (i, node) in graph.nodes.enumerated() {
            for input in node.inputs { if let j = index[input] { lastUse[j] = i } }
        }
        outputSource = index[graph.outputName]
        if let out = outputSource { lastUse[out] = Int.max }

        var slotOfNode = [Int](repeating: 0, count: graph.nodes.count)
        var slotSizes: [Int] = []
        var free: [Int] = []
        for (i, node) in graph.nodes.enumerated() {
            let size = shapes[i].reduce(1, *)
            // Best fit among free slots: the smallest that holds the output, else the largest to grow.
            let fitting = free.filter { slotSizes[$0] >= size }.min { slotSizes[$0] < slotSizes[$1] }
            let slot: Int
            if let chosen = fitting ?? free.max(by: { slotSizes[$0] < slotSizes[$1] }) {
                free.removeAll { $0 == chosen }
                slot = chosen
                slotSizes[slot] = max(slotSizes[slot], size)
            } else {
                slot = slotSizes.count
                slotSizes.append(size)
            }
            slotOfNode[i] = slot
            for input in Set(node.inputs) {
                if let j = index[input], lastUse[j] == i { free.append(slotOfNode[j]) }
            }
            if lastUse[i] == -1 { free.append(slot) }
        }
        self.slotOfNode = slotOfNode
        inputSlots = graph.nodes.map { node in node.inputs.map { index[$0].map { slotOfNode[$0] } } }
        slots = slotSizes.map { Tensor(zeros: [$0]) }
    }

    /// What the plan holds beside what any plan must: a layer's input and output live at once.
    var memory: InferenceMemory {
        let largestPair = shapes.indices.map { i in
            shapes[i].reduce(1, *) + (inputShapes[i].map { $0.reduce(1, *) }.max() ?? 0)
        }.max() ?? 0
        return InferenceMemory(plannedBytes: 4 * slots.reduce(0) { $0 + $1.scalars.capacity },
                               workspaceBytes: 4 * context.workspace.capacity,
                               largestPairBytes: 4 * largestPair)
    }

    func run(graph: Graph, input: Tensor) -> Tensor {
        for (i, node) in graph.nodes.enumerated() {
            let inputs = inputSlots[i].map { $0.map { slots[$0] } ?? input }
            var output = Tensor(zeros: [0])
            swap(&output, &slots[slotOfNode[i]])
            output.reshape(to: shapes[i])
            node.op.forward(inputs, into: &output, context: context)
            swap(&output, &slots[slotOfNode[i]])
        }
        guard let out = outputSource else { return input }
        return slots[slotOfNode[out]]
    }
}

/// The memory of one planned inference, in bytes.
public struct InferenceMemory: Sendable, Equatable {
    /// The activation buffers, shared by nodes whose outputs are never live together.
    public var plannedBytes: Int
    /// Scratch for im2col and the like, grown to the largest request.
    public var workspaceBytes: Int
    /// The largest input-plus-output of any one node: a floor no plan can go under.
    public var largestPairBytes: Int
}
