import Dispatch

/// The buffer assignment for one input shape: node outputs whose lifetimes do not overlap
/// share a buffer. Built once per shape. The buffers belong to the executor, which runs one plan
/// at a time, and are shared by its plans for every batch size: a service that batches keeps
/// the largest batch's activations, not their sum over the batch sizes it has seen (a buffer
/// that grows takes fresh storage of its capacity from the allocator, see
/// `Tensor.reshape(to:)`).
///
/// Where a Concat's inputs are contiguous slices of its output (channels at batch 1), each
/// convolution that only the Concat reads writes straight into its slice, and the Concat copies
/// only the rest: Inception's branches, SqueezeNet's expand layers and DenseNet's new features
/// are not copied a second time.
final class InferencePlan {
    private let shapes: [[Int]]
    private let slotOfNode: [Int]
    /// Per convolution that writes into a Concat's buffer: the Concat and the scalar offset.
    private let placements: [Int: (concat: Int, offset: Int)]
    /// Per Concat with such inputs: the offset of each input it still copies (nil where placed).
    private let copies: [Int: [Int?]]
    /// Per node, the slot of each input; nil stands for the graph input.
    private let inputSlots: [[Int?]]
    /// Per node, the shape of each input, for `memory`.
    private let inputShapes: [[[Int]]]
    private let outputSource: Int?
    /// Scalars of each buffer at its largest use.
    private let slotSizes: [Int]

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

        var placements: [Int: (concat: Int, offset: Int)] = [:]
        var copies: [Int: [Int?]] = [:]
        let readers = graph.readerCounts()
        for (c, node) in graph.nodes.enumerated() {
            guard let concat = node.op as? Concat else { continue }
            let axis = concat.axis < 0 ? concat.axis + shapes[c].count : concat.axis
            guard shapes[c][..<axis].allSatisfy({ $0 == 1 }) else { continue }
            var offset = 0
            var copied: [Int?] = []
            for (k, input) in node.inputs.enumerated() {
                if let p = index[input], graph.nodes[p].op is WritesInPlace, readers[input] == 1 {
                    placements[p] = (c, offset)
                    copied.append(nil)
                } else {
                    copied.append(offset)
                }
                offset += inputShapes[c][k].reduce(1, *)
            }
            if copied.contains(nil) { copies[c] = copied }
        }

        var slotOfNode = [Int](repeating: 0, count: graph.nodes.count)
        var slotSizes: [Int] = []
        var free: [Int] = []
        /// Best fit among free slots: the smallest that holds `size`, else the largest to grow.
        func take(_ size: Int) -> Int {
            let fitting = free.filter { slotSizes[$0] >= size }.min { slotSizes[$0] < slotSizes[$1] }
            if let chosen = fitting ?? free.max(by: { slotSizes[$0] < slotSizes[$1] }) {
                free.removeAll { $0 == chosen }
                slotSizes[chosen] = max(slotSizes[chosen], size)
                return chosen
            }
            slotSizes.append(size)
            return slotSizes.count - 1
        }
        // A Concat's buffer is taken by the first convolution that writes into it.
        var concatSlots: [Int: Int] = [:]
        for (i, node) in graph.nodes.enumerated() {
            let slot: Int
            if let c = placements[i]?.concat {
                slot = concatSlots[c] ?? take(shapes[c].reduce(1, *))
                concatSlots[c] = slot
            } else {
                slot = concatSlots[i] ?? take(shapes[i].reduce(1, *))
            }
            slotOfNode[i] = slot
            for input in Set(node.inputs) {
                if let j = index[input], lastUse[j] == i, placements[j] == nil { free.append(slotOfNode[j]) }
            }
            if lastUse[i] == -1 { free.append(slot) }
        }
        self.placements = placements
        self.copies = copies
        self.slotOfNode = slotOfNode
        inputSlots = graph.nodes.map { node in node.inputs.map { index[$0].map { slotOfNode[$0] } } }
        self.slotSizes = slotSizes
    }

    /// What the plan holds beside what any plan must: a layer's input and output live at once.
    func memory(workspace: Workspace) -> InferenceMemory {
        let largestPair = shapes.indices.map { i in
            shapes[i].reduce(1, *) + (inputShapes[i].map { $0.reduce(1, *) }.max() ?? 0)
        }.max() ?? 0
        return InferenceMemory(plannedBytes: 4 * slotSizes.reduce(0, +), workspaceBytes: 4 * workspace.capacity,
                               largestPairBytes: 4 * largestPair)
    }

    /// Runs every node in order in `slots`, the executor's buffers (added to as the plan needs);
    /// `timing`, when given, gets each node's wall time in seconds.
    func run(graph: Graph, input: Tensor, slots: inout [Tensor], context: ForwardContext,
             timing: ((_ node: Int, _ seconds: Double) -> Void)? = nil) -> Tensor {
        while slots.count < slotSizes.count { slots.append(Tensor(zeros: [0])) }
        for (i, node) in graph.nodes.enumerated() {
            let start = timing == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            // A Concat is not handed the inputs already in its buffer: a second reference to
            // that buffer would make writing to it copy it.
            let offsets = copies[i]
            let inputs = inputSlots[i].enumerated().map { k, slot in
                if let offsets, offsets[k] == nil { return Tensor(zeros: [0]) }
                return slot.map { slots[$0] } ?? input
            }
            var output = Tensor(zeros: [0])
            swap(&output, &slots[slotOfNode[i]])
            if let (c, offset) = placements[i], let op = node.op as? WritesInPlace {
                output.reshape(to: shapes[c])
                output.scalars.withUnsafeMutableBufferPointer { y in
                    op.forward(inputs, into: y.baseAddress! + offset, context: context)
                }
            } else if let offsets {
                output.reshape(to: shapes[i])
                output.scalars.withUnsafeMutableBufferPointer { y in
                    for (part, offset) in zip(inputs, offsets) {
                        guard let offset else { continue }
                        part.scalars.withUnsafeBufferPointer { x in
                            copyInParallel(y.baseAddress! + offset, from: x.baseAddress!, count: part.count)
                        }
                    }
                }
            } else {
                output.reshape(to: shapes[i])
                node.op.forward(inputs, into: &output, context: context)
            }
            swap(&output, &slots[slotOfNode[i]])
            timing?(i, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        guard let out = outputSource else { return input }
        // A copy of its own, so that the buffer (of whatever capacity its largest use needed)
        // stays the executor's alone: the next run writes it without copying it first.
        let output = slots[slotOfNode[out]]
        return Tensor(shape: output.shape, scalars: output.scalars.withUnsafeBufferPointer { Array($0) })
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
