/// The model randomization test of Adebayo et al. ("Sanity Checks for Saliency Maps", 2018):
/// the layers of a copy of the model are re-initialized from the top down, one more at each
/// step, and each method's map after every step is compared with its map on the trained model
/// by Spearman's rank correlation of the absolute values (max |value| over channels). A map
/// that depends on what the model learned decorrelates; one that barely changes shows the
/// input more than the model (guided backprop, in the paper), and is flagged.
public struct SaliencySanityCheck {
    /// A method is flagged when the mean of its correlations over the cascade is at least this:
    /// its maps stayed, on average, at least this close to the trained model's in rank order
    /// while the weights behind them were replaced by noise.
    public static let flagThreshold = 0.5

    public struct Step: Sendable {
        /// The layer re-initialized at this step (with every one before it in the list).
        public var layer: String
        /// nil when a map is constant (no ranking to compare).
        public var spearman: Double?
    }

    public struct MethodReport: Sendable {
        public var method: SaliencyMethod
        public var steps: [Step]
        /// The mean correlation over the steps (an undefined one counts as 0).
        public var meanSpearman: Double
        public var flagged: Bool
    }

    public struct Report: Sendable {
        public var targetClass: Int
        public var layers: [String]
        public var methods: [MethodReport]
    }

    /// A copy of the model as loaded (its weights are overwritten), cut at `scoreNode`.
    public let graph: Graph
    public let scoreNode: String

    public init(copy graph: Graph, scoreNode: String) {
        self.graph = graph
        self.scoreNode = scoreNode
    }

    /// The layers the cascade would re-initialize, top first.
    public var layers: [String] { graph.randomizableLayers(upTo: scoreNode) }

    /// Runs the cascade over the top `depth` layers (all when nil) for `methods`, explaining
    /// `targetClass` (the trained model's top class when nil) throughout. `options` are those of
    /// the maps (steps, Grad-CAM's layer, ...). `progress` is told after each map.
    public func run(input: Tensor, targetClass: Int?, methods: [SaliencyMethod], depth: Int? = nil,
                    options: SaliencyOptions, seed: UInt64 = 0) throws -> Report {
        let cascade = Array(layers.prefix(depth ?? Int.max))
        var computer = try self.computer()
        let first = try computer.compute(methods[0], input: input, targetClass: targetClass, options: options)
        let target = first.targetClass
        var originals = [ChannelReduction.maxAbs.apply(first.attribution).scalars]
        for method in methods.dropFirst() {
            originals.append(ChannelReduction.maxAbs.apply(try computer.compute(method, input: input, targetClass: target,
                                                                                options: options).attribution).scalars)
        }
        var steps = methods.map { _ in [Step]() }
        for (k, layer) in cascade.enumerated() {
            try graph.randomize(layer: layer, seed: seed &+ UInt64(k))
            computer = try self.computer()
            for (m, method) in methods.enumerated() {
                let map = ChannelReduction.maxAbs.apply(try computer.compute(method, input: input, targetClass: target,
                                                                             options: options).attribution).scalars
                steps[m].append(Step(layer: layer, spearman: RankCorrelation.spearman(originals[m], map)))
            }
        }
        let reports = zip(methods, steps).map { method, steps in
            let mean = steps.isEmpty ? 1 : steps.reduce(0) { $0 + ($1.spearman ?? 0) } / Double(steps.count)
            return MethodReport(method: method, steps: steps, meanSpearman: mean, flagged: mean >= Self.flagThreshold)
        }
        return Report(targetClass: target, layers: cascade, methods: reports)
    }

    /// A computer over the copy as it now is, prepared for inference as a served model is.
    private func computer() throws -> SaliencyComputer {
        let cut = try Graph(name: graph.name, inputName: graph.inputName, inputShape: graph.inputShape, nodes: graph.nodes,
                            outputName: scoreNode).optimizedForInference()
        return SaliencyComputer(executor: Executor(graph: cut))
    }
}
