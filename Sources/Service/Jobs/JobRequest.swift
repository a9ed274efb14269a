import CNN

/// What `POST /v1/jobs` asks for; every field but the first three has a default.
public struct JobRequest: Codable, Sendable, Equatable {
    public var baseModel: String
    public var dataset: String
    public var outputModel: String
    /// Epochs of each stage.
    public var epochs = 3
    public var batchSize = 16
    public var learningRate: Float = 1e-3
    public var optimizer = "adamw"
    public var schedule = Schedule.oneCycle
    /// "body": only the head trains; "none": stage 2 unfreezes every layer group;
    /// "<k>": stage 2 keeps the first k layer groups frozen.
    public var freeze = "none"
    public var discriminativeFactor: Float = 3
    public var augment = true
    public var validationSplit: Float = 0.2
    public var earlyStoppingPatience = 3
    public var seed: UInt64 = 0

    enum CodingKeys: String, CodingKey {
        case baseModel = "base_model", dataset, outputModel = "output_model", epochs, batchSize = "batch_size"
        case learningRate = "learning_rate", optimizer, schedule, freeze, discriminativeFactor = "discriminative_factor"
        case augment, validationSplit = "validation_split", earlyStoppingPatience = "early_stopping_patience", seed
    }

    public init(baseModel: String, dataset: String, outputModel: String) {
        self.baseModel = baseModel
        self.dataset = dataset
        self.outputModel = outputModel
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(baseModel: try c.decode(String.self, forKey: .baseModel), dataset: try c.decode(String.self, forKey: .dataset),
                  outputModel: try c.decode(String.self, forKey: .outputModel))
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? epochs
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? batchSize
        learningRate = try c.decodeIfPresent(Float.self, forKey: .learningRate) ?? learningRate
        optimizer = try c.decodeIfPresent(String.self, forKey: .optimizer) ?? optimizer
        schedule = try c.decodeIfPresent(Schedule.self, forKey: .schedule) ?? schedule
        freeze = try c.decodeIfPresent(String.self, forKey: .freeze) ?? freeze
        discriminativeFactor = try c.decodeIfPresent(Float.self, forKey: .discriminativeFactor) ?? discriminativeFactor
        augment = try c.decodeIfPresent(Bool.self, forKey: .augment) ?? augment
        validationSplit = try c.decodeIfPresent(Float.self, forKey: .validationSplit) ?? validationSplit
        earlyStoppingPatience = try c.decodeIfPresent(Int.self, forKey: .earlyStoppingPatience) ?? earlyStoppingPatience
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
    }

    /// Layer groups that stay frozen in stage 2, or nil when there is no stage 2.
    public func frozenGroupsInStage2(groupCount: Int) -> Int? {
        switch freeze {
        case "body": return nil
        case "none": return 0
        default: return Int(freeze).map { min($0, groupCount) }
        }
    }

    /// The first problem with the hyper-parameters, if any.
    public var problem: String? {
        if !(1...1000).contains(epochs) { return "epochs must be 1 to 1000" }
        if !(1...4096).contains(batchSize) { return "batch_size must be 1 to 4096" }
        if !(learningRate > 0 && learningRate < 10) { return "learning_rate must be positive and below 10" }
        if !["adamw", "sgd"].contains(optimizer) { return "optimizer must be adamw or sgd" }
        if freeze != "body", freeze != "none", (Int(freeze) ?? -1) < 0 { return "freeze must be body, none or a number of layer groups" }
        if !(discriminativeFactor >= 1 && discriminativeFactor <= 1000) { return "discriminative_factor must be 1 to 1000" }
        if !(validationSplit >= 0 && validationSplit < 1) { return "validation_split must be in [0, 1)" }
        if earlyStoppingPatience < 0 { return "early_stopping_patience must not be negative" }
        return nil
    }
}
