import CNN
import HTTPServer
import Imaging

/// The query parameters of a saliency request, validated.
struct SaliencyRequest {
    /// What `class=` asks for: the top-scoring classes, or classes by index or label.
    enum ClassChoice {
        /// `top` (one class) or `topK`.
        case top(Int)
        /// An index, a label, or several of them separated by commas, resolved against the labels.
        case named(String)
    }

    /// How map values become colors and JSON numbers.
    enum Normalization: String, CaseIterable {
        /// Per map: its smallest value to 0 and its 99th percentile to 1, clipped (0 to the 99th
        /// percentile of magnitudes for RGB maps).
        case percentile
        /// Raw values in JSON; for PNG 0 to `scale=` maps to 0 to 1, clipped, the same for every map.
        case none
    }

    var method = SaliencyMethod.gradient
    var target = ClassChoice.top(1)
    var normalization = Normalization.percentile
    /// The value drawn at full color with normalize=none.
    var scale: Float?
    var reduction = ChannelReduction.maxAbs
    var colormap = Colormap.inferno
    var overlay = true
    var alpha: Float = 0.5
    var asJSON = false
    /// Integrated-gradients steps or SmoothGrad samples; nil is the method's default.
    var steps: Int?
    var sigma: Float = 0.15
    var integration = IntegrationRule.gaussLegendre
    var baseline = SaliencyBaseline.black
    /// Grad-CAM's layer by node name; nil is the last convolution.
    var layer: String?
    /// Score the map by deletion and insertion (Petsiuk et al.), in this many steps.
    var fidelity = false
    var fidelitySteps = FidelityScorer.defaultSteps
    private let budgets: ResourceBudgets

    init(_ request: HTTPServerRequest, budgets: ResourceBudgets) throws {
        try self.init(budgets: budgets, query: request.queryValue)
    }

    /// Reads the parameters through `query`, which answers a parameter's value by name; what a
    /// request may cost is bounded by `budgets` (max_saliency_steps).
    init(budgets: ResourceBudgets, query: (String) -> String?) throws {
        self.budgets = budgets
        if let value = query("method") {
            guard let method = SaliencyMethod(rawValue: value) else {
                throw ServiceError.badParameter("method must be one of \(SaliencyMethod.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            self.method = method
        }
        if let value = query("class") {
            if value.hasPrefix("top"), let count = value == "top" ? 1 : Int(value.dropFirst(3)) {
                guard count >= 1 else { throw ServiceError.badParameter("class=topK needs K of at least 1") }
                guard count <= budgets.maxSaliencyClasses else {
                    throw BudgetError.exceeded("class=\(value) asks for \(count) maps; a saliency request may explain at most "
                                               + "\(budgets.maxSaliencyClasses) classes", setting: "max_saliency_classes")
                }
                target = .top(count)
            } else {
                guard !value.isEmpty else { throw ServiceError.badParameter("class must be top, topK, an index or a label") }
                target = .named(value)
            }
        }
        if let value = query("normalize") {
            guard let normalization = Normalization(rawValue: value) else {
                throw ServiceError.badParameter("normalize must be one of \(Normalization.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            self.normalization = normalization
        }
        if let value = query("scale") {
            guard let scale = Float(value), scale.isFinite, scale > 0 else {
                throw ServiceError.badParameter("scale must be a positive number (the map value drawn at full color)")
            }
            self.scale = scale
        }
        if let value = query("reduce") {
            guard let reduction = ChannelReduction(rawValue: value) else {
                throw ServiceError.badParameter("reduce must be one of \(ChannelReduction.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            self.reduction = reduction
        }
        if let value = query("colormap") {
            guard let colormap = Colormap(rawValue: value) else {
                throw ServiceError.badParameter("colormap must be one of \(Colormap.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            self.colormap = colormap
        }
        if let value = query("overlay") {
            guard let overlay = Bool(value) else { throw ServiceError.badParameter("overlay must be true or false") }
            self.overlay = overlay
        }
        if let value = query("alpha") {
            guard let alpha = Float(value), (0...1).contains(alpha) else {
                throw ServiceError.badParameter("alpha must be a number from 0 to 1")
            }
            self.alpha = alpha
        }
        if let value = query("format") {
            guard value == "png" || value == "json" else { throw ServiceError.badParameter("format must be png or json") }
            asJSON = value == "json"
        }
        if let value = query("ig_method") {
            guard let rule = IntegrationRule(rawValue: value) else {
                throw ServiceError.badParameter("ig_method must be one of \(IntegrationRule.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            integration = rule
        }
        if let value = query("baseline") {
            guard let baseline = SaliencyBaseline(rawValue: value) else {
                throw ServiceError.badParameter("baseline must be one of \(SaliencyBaseline.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            self.baseline = baseline
        }
        if let value = query("steps") {
            guard let steps = Int(value), steps >= 1 else { throw ServiceError.badParameter("steps must be a whole number from 1") }
            guard steps <= budgets.maxSaliencySteps else {
                throw BudgetError.exceeded("steps=\(steps) is more than the \(budgets.maxSaliencySteps) a saliency request may run",
                                           setting: "max_saliency_steps")
            }
            let least = method == .integratedGradients ? integration.minimumSteps : 1
            guard steps >= least else { throw ServiceError.badParameter("\(integration.rawValue) needs steps of at least \(least)") }
            self.steps = steps
        }
        if let value = query("sigma") {
            guard let sigma = Float(value), sigma >= 0, sigma <= 10 else {
                throw ServiceError.badParameter("sigma must be a number from 0 to 10 (a fraction of the input's value range)")
            }
            self.sigma = sigma
        }
        if let value = query("fidelity") {
            guard let fidelity = Bool(value) else { throw ServiceError.badParameter("fidelity must be true or false") }
            self.fidelity = fidelity
        }
        if let value = query("fidelity_steps") {
            guard let steps = Int(value), steps >= 1 else { throw ServiceError.badParameter("fidelity_steps must be a whole number from 1") }
            guard steps <= budgets.maxFidelitySteps else {
                throw BudgetError.exceeded("fidelity_steps=\(steps) is more than the \(budgets.maxFidelitySteps) a saliency request "
                                           + "may run", setting: "max_fidelity_steps")
            }
            fidelitySteps = steps
        }
        if let value = query("layer") {
            guard !value.isEmpty else { throw ServiceError.badParameter("layer must name a node") }
            layer = value
        }
        if normalization == .none && !asJSON && scale == nil {
            throw ServiceError.badParameter("normalize=none draws every map on one fixed scale: give scale= (the value drawn at "
                + "full color, e.g. the largest value of a format=json answer)")
        }
        if normalization == .percentile && scale != nil {
            throw ServiceError.badParameter("scale= is the fixed scale of normalize=none; normalize=percentile scales each map itself")
        }
    }

    /// Whether the answer is one map per class (an array, or a grid of PNGs) for a model with
    /// `labels`: `class=topK` with K of 2 or more, or a list of classes (not one label with commas).
    func isSeveral(labels: [String]) -> Bool {
        switch target {
        case let .top(count): return count > 1
        case let .named(value): return value.contains(",") && !labels.contains(value)
        }
    }

    /// The options of the saliency computation for a model whose preprocessing gives `black`
    /// for a black image and `channelRanges` as each channel's values.
    func options(black: Tensor, channelRanges: [ClosedRange<Float>]) -> SaliencyOptions {
        var options = SaliencyOptions()
        options.steps = steps
        options.sigma = sigma
        options.integration = integration
        options.baseline = baseline
        options.blackInput = black
        options.channelRanges = channelRanges
        options.layer = layer
        return options
    }

    /// The classes to explain for a model with `labels`. A value that is a whole label or index
    /// names one class, so labels with commas in them ("tench, Tinca tinca") still work;
    /// otherwise each comma-separated part is an index or a label.
    func targets(labels: [String]) throws -> SaliencyTargets {
        switch target {
        case let .top(count): return .top(min(count, labels.count))
        case let .named(value):
            if let one = try? Self.classIndex(value, labels: labels) { return .classes([one]) }
            let parts = value.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count > 1 else { return .classes([try Self.classIndex(value, labels: labels)]) }
            guard parts.count <= budgets.maxSaliencyClasses else {
                throw BudgetError.exceeded("class= lists \(parts.count) classes; a saliency request may explain at most "
                                           + "\(budgets.maxSaliencyClasses)", setting: "max_saliency_classes")
            }
            let indices = try parts.map { try Self.classIndex($0, labels: labels) }
            if let twice = indices.first(where: { i in indices.filter { $0 == i }.count > 1 }) {
                throw ServiceError.badParameter("class \(twice) (\(labels[twice])) is listed twice")
            }
            return .classes(indices)
        }
    }

    private static func classIndex(_ value: String, labels: [String]) throws -> Int {
        if let i = Int(value) {
            guard i >= 0 && i < labels.count else {
                throw ServiceError.badParameter("class \(i) is out of range: the model has \(labels.count) classes")
            }
            return i
        }
        guard let i = labels.firstIndex(of: value) else {
            throw ServiceError.badParameter("the model has no class labelled '\(value)'")
        }
        return i
    }
}
