/// Runs a graph: planned-memory inference, and forward/backward passes for training and saliency.
///
/// An executor is not thread-safe; give each thread its own. Executors over the same graph
/// share its weights, which inference and saliency only read.
public final class Executor {
    public let graph: Graph
    private var plans: [[Int]: InferencePlan] = [:]
    /// The activation buffers every plan runs in, and their scratch.
    private var slots: [Tensor] = []
    private let context = ForwardContext(isTraining: false)

    public init(graph: Graph) {
        self.graph = graph
    }

    /// Inference with buffers planned once per input shape and reused on every later call.
    public func infer(_ input: Tensor) throws -> Tensor {
        let plan = try plan(for: input.shape)
        return plan.run(graph: graph, input: input, slots: &slots, context: context)
    }

    /// Inference as `infer` does it, timed node by node: each node's median wall time in
    /// seconds over `runs` runs, in graph order.
    public func profile(_ input: Tensor, runs: Int) throws -> [(node: Node, seconds: Double)] {
        let plan = try plan(for: input.shape)
        var times = [[Double]](repeating: [], count: graph.nodes.count)
        for _ in 0..<max(runs, 1) {
            _ = plan.run(graph: graph, input: input, slots: &slots, context: context) { times[$0].append($1) }
        }
        return zip(graph.nodes, times).map { ($0, $1.sorted()[$1.count / 2]) }
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
