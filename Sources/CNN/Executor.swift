/// Runs a graph: planned-memory inference, and forward/backward passes for training and saliency.
///
/// An executor is not thread-safe; give each thread its own. Executors over the same graph
/// share its weights, which inference and saliency only read.
public final class Executor {
    public let graph: Graph
    private var plans: [[Int]: InferencePlan] = [:]
    /// The buffer every plan runs in, sized for the largest, and the plans' scratch.
    private var buffer = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    private let context = ForwardContext(isTraining: false, keepsForBackward: false)

    /// Executors for the head and the tail of `BatchSplit`, made on the first batch (nil inside
    /// when the graph has no split), and the batch of head outputs that the tail reads.
    private var split: (head: Executor, tail: Executor)??
    private var cut = Tensor(zeros: [0])

    /// Whether a batch may run one image at a time through the head (not in the tail itself).
    private let splitsBatches: Bool

    public convenience init(graph: Graph) {
        self.init(graph: graph, splitsBatches: true)
    }

    private init(graph: Graph, splitsBatches: Bool) {
        self.graph = graph
        self.splitsBatches = splitsBatches
    }

    deinit { buffer.deallocate() }

    /// Inference with buffers planned once per input shape and reused on every later call. A
    /// batch runs its images one at a time through the head of the graph (`BatchSplit`).
    public func infer(_ input: Tensor) throws -> Tensor {
        try infer(input, timing: nil)
    }

    private func infer(_ input: Tensor, timing: ((_ node: String, _ seconds: Double) -> Void)?) throws -> Tensor {
        try checkInput(input.shape)
        let images = input.shape[0]
        guard images > 1, splitsBatches, let (head, tail) = try batchSplit() else {
            let plan = try plan(for: input.shape)
            if buffer.count < plan.size {
                buffer.deallocate()
                buffer = .allocate(capacity: Swift.max(plan.size, 1))
            }
            return plan.run(graph: graph, input: input, buffer: buffer.baseAddress!, context: context) {
                timing?(self.graph.nodes[$0].name, $1)
            }
        }
        let length = input.count / images
        for s in 0..<images {
            let image = input.scalars.withUnsafeBufferPointer { Array($0[(s * length)..<((s + 1) * length)]) }
            let part = try head.infer(Tensor(shape: [1] + graph.inputShape, scalars: image), timing: timing)
            if s == 0 && cut.shape != [images] + tail.graph.inputShape {
                cut = Tensor(unfilledShape: [images] + tail.graph.inputShape)
            }
            cut.scalars.withUnsafeMutableBufferPointer { c in
                part.scalars.withUnsafeBufferPointer { (c.baseAddress! + s * part.count).update(from: $0.baseAddress!, count: part.count) }
            }
        }
        return try tail.infer(cut, timing: timing)
    }

    /// The node up to which a batch's images run one at a time, nil when they never do.
    public var batchSplitNode: String? {
        get throws { try batchSplit()?.head.graph.outputName }
    }

    private func batchSplit() throws -> (head: Executor, tail: Executor)? {
        if let split { return split }
        let made = try BatchSplit(graph).map {
            (Executor(graph: $0.head, splitsBatches: false), Executor(graph: $0.tail, splitsBatches: false))
        }
        split = made
        return made
    }

    /// Inference as `infer` does it, timed node by node: each node's median wall time in
    /// seconds over `runs` runs (summed over the images where they run one at a time), in
    /// graph order.
    public func profile(_ input: Tensor, runs: Int) throws -> [(node: Node, seconds: Double)] {
        var times: [String: [Double]] = [:]
        for _ in 0..<max(runs, 1) {
            var run: [String: Double] = [:]
            _ = try infer(input) { run[$0, default: 0] += $1 }
            for (node, seconds) in run { times[node, default: []].append(seconds) }
        }
        return graph.nodes.map { node in (node, times[node.name].map { $0.sorted()[$0.count / 2] } ?? 0) }
    }

    /// The memory planned for inputs of `shape`; the workspace counts once a run has used it.
    public func memory(for shape: [Int]) throws -> InferenceMemory {
        try plan(for: shape).memory(workspace: context.workspace)
    }

    private func plan(for shape: [Int]) throws -> InferencePlan {
        if let plan = plans[shape] { return plan }
        try checkInput(shape)
        let plan = try InferencePlan(graph: graph, batch: shape[0])
        plans[shape] = plan
        return plan
    }

    private func checkInput(_ shape: [Int]) throws {
        guard shape.count == graph.inputShape.count + 1, Array(shape.dropFirst()) == graph.inputShape,
              shape[0] > 0 else {
            throw GraphError(node: graph.inputName,
                             "expected input [N] + \(graph.inputShape), got \(shape)")
        }
    }

    /// A forward pass that keeps every activation for a later `backward`.
    public func forward(_ input: Tensor, context: ForwardContext) throws -> Trace {
        try checkInput(input.shape)
        let shapes = try graph.shapes(batch: input.shape[0])
        var activations = [graph.inputName: input]
        for node in graph.nodes {
            var output = Tensor(unfilledShape: shapes[node.name]!)
            node.op.forward(node.inputs.map { activations[$0]! }, into: &output, context: context)
            activations[node.name] = output
        }
        return Trace(graph: graph, activations: activations, context: context)
    }

    /// Backpropagates `gradient` from the output of node `from` (the graph output by default).
    ///
    /// Returns the gradient of every node output on the path, the graph input included, or
    /// with `returning`, only of the names it lists. Parameter gradients are accumulated into
    /// each `Parameter.gradient` only when asked.
    ///
    /// With `returning`, a node is only backpropagated through when something upstream of it
    /// wants a gradient (a listed name, or a trainable parameter when parameter gradients are
    /// computed), and each gradient is released once its node has used it: a frozen body is
    /// skipped, the first layer computes no input gradient, and memory stays at the frontier.
    public func backward(_ trace: Trace, from node: String? = nil, gradient: Tensor,
                         computesParameterGradients: Bool, rule: GradientRule = .standard,
                         returning wanted: Set<String>? = nil) -> [String: Tensor] {
        let start = node ?? graph.outputName
        precondition(trace.activations[start]?.shape == gradient.shape,
                     "gradient shape \(gradient.shape) does not match node '\(start)'")
        let context = BackwardContext(forward: trace.context,
                                      computesParameterGradients: computesParameterGradients, rule: rule)
        let needed = wanted.map { gradientsNeeded(wanted: $0, computesParameterGradients: computesParameterGradients) }
        var gradients = [start: gradient]
        for node in graph.nodes.reversed() {
            guard let outputGradient = gradients[node.name] else { continue }
            if let wanted, !wanted.contains(node.name) { gradients[node.name] = nil }
            if let needed, !needed.contains(node.name) { continue }
            context.needsInputGradients = needed.map { n in node.inputs.contains { n.contains($0) } } ?? true
            let inputs = node.inputs.map { trace.activations[$0]! }
            let inputGradients = node.op.backward(inputs, output: trace.activations[node.name]!,
                                                  outputGradient: outputGradient, context: context)
            for (name, g) in zip(node.inputs, inputGradients) {
                guard let g, needed?.contains(name) ?? true else { continue }
                if gradients[name] == nil {
                    gradients[name] = g
                } else {
                    gradients[name]!.add(g)
                }
            }
        }
        return gradients
    }

    /// The names (graph input and nodes) whose output gradient some wanted name or trainable
    /// parameter depends on; graph nodes are in topological order.
    private func gradientsNeeded(wanted: Set<String>, computesParameterGradients: Bool) -> Set<String> {
        var needed = wanted.intersection([graph.inputName])
        for node in graph.nodes {
            let trains = computesParameterGradients && node.op.parameters.contains { $0.isTrainable }
            if trains || wanted.contains(node.name) || node.inputs.contains(where: needed.contains) {
                needed.insert(node.name)
            }
        }
        return needed
    }
}

/// The activations of one forward pass, kept for backward.
public struct Trace {
    public let graph: Graph
    public let activations: [String: Tensor]
    public let context: ForwardContext

    public var output: Tensor { activations[graph.outputName]! }
}
