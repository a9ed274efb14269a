/// Parameters that train together: one learning-rate multiplier and one frozen flag.
/// Discriminative fine-tuning gives earlier groups smaller multipliers.
public final class ParameterGroup {
    public let name: String
    public let parameters: [Parameter]
    public var learningRateScale: Float
    public var isFrozen: Bool {
        didSet { for p in parameters { p.isTrainable = !isFrozen } }
    }

    public init(name: String, parameters: [Parameter], learningRateScale: Float = 1, isFrozen: Bool = false) {
        self.name = name
        self.parameters = parameters
        self.learningRateScale = learningRateScale
        self.isFrozen = isFrozen
        for p in parameters { p.isTrainable = !isFrozen }
    }
}
