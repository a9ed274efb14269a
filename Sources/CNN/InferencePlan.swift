import Dispatch

/// Where every node output lives in one buffer, for one input shape: outputs whose lifetimes do
/// not overlap share memory. Built once per shape. The buffer belongs to the executor, which
/// runs one plan at a time and sizes it for the largest of its plans, so a run allocates no
/// activation: every operator reads and writes views into it.
///
/// Where a Concat's inputs are contiguous slices of its output (channels at batch 1), each node
/// that only the Concat reads writes straight into its slice, and the Concat copies only the
/// rest: Inception's branches, SqueezeNet's expand layers and DenseNet's new features are not
/// copied a second time. A Concat that only repeats the start of a longer one (DenseNet's, one a
/// layer) is the start of that one's output and copies nothing. A Reshape or Flatten of a node's output is that output, and costs
/// nothing (ShuffleNet's channel shuffles reshape twice each: 5% of its time as copies).
final class InferencePlan {
    private let shapes: [[Int]]
    /// Per node, where its output starts in the buffer.
    private let outputOffsets: [Int]
    /// Per node, where each input starts in the buffer; nil stands for the graph input.
    private let inputOffsets: [[Int?]]
    /// Per node, the shape of each input.
    private let inputShapes: [[[Int]]]
    /// Per Concat whose inputs were placed in its output: where each input it still copies goes
    /// in it (nil where placed).
    private let copies: [Int: [Int?]]
    /// Shape-only nodes whose output is their input's, in place.
    private let aliases: Set<Int>
    private let outputSource: Int?
    /// Floats the plan's buffer must hold.
    let size: Int

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

        // A Concat whose inputs begin those of other Concats (DenseNet: each layer joins every
        // earlier feature map again, one more each time) is the start of the longest of them, its
        // `root`, when they are all starts of that one: it copies nothing, and a node that only
        // such Concats read, at one place, is written once where the root keeps it.
        let readers = graph.readerCounts()
        var axes: [Int: Int] = [:]
        for (c, node) in graph.nodes.enumerated() {
            guard let concat = node.op as? Concat else { continue }
            let axis = concat.axis < 0 ? concat.axis + shapes[c].count : concat.axis
            if shapes[c][..<axis].allSatisfy({ $0 == 1 }) { axes[c] = axis }
        }
        let root = Self.concatRoots(axes: axes, inputs: { graph.nodes[$0].inputs })
        // Per root, the members of its chain that read each node, and where in the root it goes.
        var chainReads: [Int: (root: Int, offset: Int, reads: Int)] = [:]
        var conflicting: Set<Int> = []
        for c in axes.keys.sorted() {
            var offset = 0
            for input in graph.nodes[c].inputs {
                if let p = index[input] {
                    if let seen = chainReads[p], seen.root != root[c]! || seen.offset != offset {
                        conflicting.insert(p)
                    } else {
                        chainReads[p] = (root[c]!, offset, (chainReads[p]?.reads ?? 0) + 1)
                    }
                }
                offset += shapeByName[input]!.reduce(1, *)
            }
        }
        var placements: [Int: (concat: Int, offset: Int)] = [:]
        for (p, read) in chainReads where !conflicting.contains(p) && !(graph.nodes[p].op is Concat)
            && readers[graph.nodes[p].name] == read.reads {
            placements[p] = (read.root, read.offset)
        }
        // Each input a chain still copies is copied by the first of its Concats to run.
        var views: [Int: Int] = [:]
        var copies: [Int: [Int?]] = [:]
        var copiedBefore: [Int: Int] = [:]
        for c in axes.keys.sorted() {
            let r = root[c]!
            if r != c { views[c] = r }
            var offset = 0
            var copied: [Int?] = []
            for (k, input) in graph.nodes[c].inputs.enumerated() {
                let placed = index[input].map { placements[$0] != nil } ?? false
                copied.append(placed || k < copiedBefore[r, default: 0] ? nil : offset)
                offset += shapeByName[input]!.reduce(1, *)
            }
            copiedBefore[r] = max(copiedBefore[r, default: 0], copied.count)
            if copied.contains(nil) || r != c { copies[c] = copied }
        }

        // A shape-only node over another node's own output shares it (`owner`).
        var owner = Array(graph.nodes.indices)
        var aliases: Set<Int> = []
        for (i, node) in graph.nodes.enumerated() where node.op is any ShapeOnlyOperator && placements[i] == nil {
            guard let j = index[node.inputs[0]], placements[owner[j]] == nil, views[owner[j]] == nil else { continue }
            owner[i] = owner[j]
            aliases.insert(i)
        }

        // Every node's output lives in a buffer: its own, its owner's, or that of the Concat it is
        // placed in, named by that node. A buffer is live from its first write to the last read
        // of any node in it; buffers live at once get disjoint ranges, the largest placed first
        // at the lowest offset free of them (greedy by size). Handing whole regions on as nodes
        // finished had planned Inception v2 in 6.3 MB where its largest input and output pair
        // needs 3.8, and ResNet-50 in 9.2 MB; this plans 3.8 and 6.9.
        let bufferOf = graph.nodes.indices.map { placements[$0]?.concat ?? views[$0] ?? owner[$0] }
        var first = [Int](repeating: Int.max, count: graph.nodes.count), last = [Int](repeating: -1, count: graph.nodes.count)
        for (i, b) in bufferOf.enumerated() {
            first[b] = min(first[b], i)
            last[b] = max(last[b], i, lastUse[i])  // an output nobody reads is still written
        }
        let counts = shapes.map { $0.reduce(1, *) }
        let order = graph.nodes.indices.filter { first[$0] != Int.max }
            .sorted { counts[$0] != counts[$1] ? counts[$0] > counts[$1] : first[$0] < first[$1] }
        var bufferOffsets = [Int](repeating: 0, count: graph.nodes.count)
        // The buffers placed so far, by offset: each new one walks them once, stepping over those
        // not live beside it. (Filtering and sorting them anew for each buffer, through
        // dictionaries, planned a file of 32,000 small nodes in 109 s.)
        var placed: [Int] = []
        var end = 0
        for b in order {
            var offset = 0
            for other in placed where first[other] <= last[b] && first[b] <= last[other] {
                if bufferOffsets[other] >= offset + counts[b] { break }
                offset = max(offset, bufferOffsets[other] + counts[other])
            }
            bufferOffsets[b] = offset
            var low = 0, high = placed.count
            while low < high {
                let middle = (low + high) / 2
                if bufferOffsets[placed[middle]] <= offset { low = middle + 1 } else { high = middle }
            }
            placed.insert(b, at: low)
            end = max(end, offset + counts[b])
        }
        self.copies = copies
        self.aliases = aliases
        size = end
        let offsets = graph.nodes.indices.map { bufferOffsets[bufferOf[$0]] + (placements[$0]?.offset ?? 0) }
        outputOffsets = offsets
        inputOffsets = graph.nodes.map { node in node.inputs.map { name in index[name].map { offsets[$0] } } }
    }

    /// What the plan holds beside what any plan must: a layer's input and output live at once.
    func memory(workspace: Workspace) -> InferenceMemory {
        let largestPair = shapes.indices.map { i in
            shapes[i].reduce(1, *) + (inputShapes[i].map { $0.reduce(1, *) }.max() ?? 0)
        }.max() ?? 0
        return InferenceMemory(plannedBytes: 4 * size, workspaceBytes: 4 * workspace.capacity,
                               largestPairBytes: 4 * largestPair)
    }

    /// Runs every node in order in `buffer` (at least `size` floats); `timing`, when given, gets
    /// each node's wall time in seconds. Returns a copy of the output.
    func run(graph: Graph, input: Tensor, buffer: UnsafeMutablePointer<Float>, context: ForwardContext,
             timing: ((_ node: Int, _ seconds: Double) -> Void)? = nil) -> Tensor {
        input.scalars.withUnsafeBufferPointer { x in
            let source = UnsafeMutablePointer(mutating: x.baseAddress!)
            for (i, node) in graph.nodes.enumerated() {
                let start = timing == nil ? 0 : DispatchTime.now().uptimeNanoseconds
                let output = TensorView(shape: shapes[i], scalars: buffer + outputOffsets[i])
                if aliases.contains(i) {
                    // Already in place: the input's scalars are the output's.
                } else if let offsets = copies[i] {
                    // The inputs placed in the Concat's output are already there.
                    for (k, offset) in offsets.enumerated() {
                        guard let offset else { continue }
                        copyInParallel(output.scalars + offset, from: inputOffsets[i][k].map { buffer + $0 } ?? source,
                                       count: inputShapes[i][k].reduce(1, *))
                    }
                } else {
                    let inputs = zip(inputOffsets[i], inputShapes[i]).map { offset, shape in
                        TensorView(shape: shape, scalars: offset.map { buffer + $0 } ?? source)
                    }
                    node.op.forward(inputs, into: output, context: context)
                }
                timing?(i, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            guard let out = outputSource else { return input }
            let result = UnsafeBufferPointer(start: buffer + outputOffsets[out], count: shapes[out].reduce(1, *))
            return Tensor(shape: shapes[out], scalars: Array(result))
        }
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
