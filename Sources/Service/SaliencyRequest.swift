import CNN
import HTTPServer
import Imaging

/// The query parameters of a saliency request, validated.
struct SaliencyRequest {
    enum ClassChoice {
        case top
        case index(Int)
        case label(String)
    }

    var method = SaliencyMethod.gradient
    var target = ClassChoice.top
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

    init(_ request: HTTPServerRequest, budgets: ResourceBudgets) throws {
        try self.init(budgets: budgets, query: request.queryValue)
    }

    /// Reads the parameters through `query`, which answers a parameter's value by name; what a
    /// request may cost is bounded by `budgets` (max_saliency_steps).
    init(budgets: ResourceBudgets, query: (String) -> String?) throws {
        if let value = query("method") {
            guard let method = SaliencyMethod(rawValue: value) else {
                throw ServiceError.badParameter("method must be one of \(SaliencyMethod.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            self.method = method
        }
        if let value = query("class"), value != "top" {
            target = Int(value).map(ClassChoice.index) ?? .label(value)
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

    /// The class index to explain, or nil for the top one.
    func classIndex(labels: [String]) throws -> Int? {
        switch target {
        case .top: return nil
        case let .index(i):
            guard i >= 0 && i < labels.count else {
                throw ServiceError.badParameter("class \(i) is out of range: the model has \(labels.count) classes")
            }
            return i
        case let .label(name):
            guard let i = labels.firstIndex(of: name) else {
                throw ServiceError.badParameter("the model has no class labelled '\(name)'")
            }
            return i
        }
    }
}
