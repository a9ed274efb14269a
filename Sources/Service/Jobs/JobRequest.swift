import CNN

/// A job's peak learning rate: a number, or "auto" for the range test (fastai's `lr_find`).
public enum LearningRateSetting: Codable, Sendable, Equatable, ExpressibleByFloatLiteral {
    case fixed(Float)
    case auto

    public init(floatLiteral value: Float) {
        self = .fixed(value)
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Float.self) {
            self = .fixed(value)
        } else if (try? container.decode(String.self)) == "auto" {
            self = .auto
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "learning_rate must be a number or \"auto\"")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case let .fixed(value): try container.encode(value)
        case .auto: try container.encode("auto")
        }
    }
}

/// What BatchNorm layers in frozen layer groups do while training.
public enum FrozenBatchNorm: String, Codable, Sendable, CaseIterable {
    /// Normalize by the running statistics and leave everything as the base learned it (Keras).
    case running
    /// Normalize by each batch's statistics and update the running ones; scale and shift stay.
    case batch
    /// Train them as if unfrozen: batch statistics, scale and shift (fastai's `train_bn`).
    case train
}

/// What keeps fine-tuning's weights from fitting the few training images too closely.
public enum Regularization: String, Codable, Sendable, CaseIterable {
    /// Decoupled weight decay toward zero on every trained weight at `weight_decay` (AdamW's; SGD adds it to the gradient).
    case weightDecay = "weight_decay"
    /// L2-SP (Li et al. 2018): the base's weights are pulled toward their pretrained values at
    /// `l2_sp_alpha` and the new head's toward zero at `l2_sp_beta`, as a penalty in the loss,
    /// instead of any decay toward zero.
    case l2SP = "l2_sp"
}

/// What `POST /v1/jobs` asks for; every field but the first three has a default.
public struct JobRequest: Codable, Sendable, Equatable {
    public var baseModel: String
    public var dataset: String
    public var outputModel: String
    /// Epochs of each stage (of stage 2 when `headEpochs` is set).
    public var epochs = 3
    /// Epochs of stage 1, the new head on the frozen body; nil for `epochs`.
    public var headEpochs: Int?
    public var batchSize = 16
    /// The peak rate of stage 1; stage 2 peaks at half of it.
    public var learningRate: LearningRateSetting = 1e-3
    public var optimizer = "adamw"
    public var schedule = Schedule.oneCycle
    public var head = HeadChoice.classifier
    public var headPooling = HeadPooling.auto
    public var headHiddenUnits = 0
    public var headDropout: Float = 0
    /// "body": only the head trains; "none": stage 2 unfreezes every layer group;
    /// "<k>": stage 2 keeps the first k layer groups frozen.
    public var freeze = "none"
    public var frozenBatchNorm = FrozenBatchNorm.running
    public var discriminativeFactor: Float = 3
    public var regularization = Regularization.weightDecay
    /// The decay toward zero with `weight_decay`.
    public var weightDecay: Float = 1e-4
    /// L2-SP's strength toward the pretrained weights (α) and toward zero for the new head (β).
    public var l2SPAlpha: Float = 0.1
    public var l2SPBeta: Float = 0.01
    /// ε of the smoothed training targets, (1 - ε) onehot + ε / classes; 0 for plain labels.
    public var labelSmoothing: Float = 0
    /// Mixup's α (each batch blended with a shuffled copy, λ ~ Beta(α, α)); 0 for none.
    public var mixup: Float = 0
    public var augment = true
    /// Whether augmentation flips images left to right (off for images whose orientation is a class cue).
    public var horizontalFlip = true
    public var validationSplit: Float = 0.2
    public var earlyStoppingPatience = 3
    public var seed: UInt64 = 0

    enum CodingKeys: String, CodingKey {
        case baseModel = "base_model", dataset, outputModel = "output_model", epochs, headEpochs = "head_epochs"
        case batchSize = "batch_size", learningRate = "learning_rate", optimizer, schedule, head
        case headPooling = "head_pooling", headHiddenUnits = "head_hidden_units", headDropout = "head_dropout", freeze
        case frozenBatchNorm = "frozen_batchnorm", discriminativeFactor = "discriminative_factor"
        case regularization, weightDecay = "weight_decay", l2SPAlpha = "l2_sp_alpha", l2SPBeta = "l2_sp_beta"
        case labelSmoothing = "label_smoothing", mixup
        case augment, horizontalFlip = "horizontal_flip", validationSplit = "validation_split", earlyStoppingPatience = "early_stopping_patience", seed
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
        headEpochs = try c.decodeIfPresent(Int.self, forKey: .headEpochs)
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? batchSize
        learningRate = try c.decodeIfPresent(LearningRateSetting.self, forKey: .learningRate) ?? learningRate
        optimizer = try c.decodeIfPresent(String.self, forKey: .optimizer) ?? optimizer
        schedule = try c.decodeIfPresent(Schedule.self, forKey: .schedule) ?? schedule
        head = try c.decodeIfPresent(HeadChoice.self, forKey: .head) ?? head
        headPooling = try c.decodeIfPresent(HeadPooling.self, forKey: .headPooling) ?? headPooling
        headHiddenUnits = try c.decodeIfPresent(Int.self, forKey: .headHiddenUnits) ?? headHiddenUnits
        headDropout = try c.decodeIfPresent(Float.self, forKey: .headDropout) ?? headDropout
        freeze = try c.decodeIfPresent(String.self, forKey: .freeze) ?? freeze
        frozenBatchNorm = try c.decodeIfPresent(FrozenBatchNorm.self, forKey: .frozenBatchNorm) ?? frozenBatchNorm
        discriminativeFactor = try c.decodeIfPresent(Float.self, forKey: .discriminativeFactor) ?? discriminativeFactor
        regularization = try c.decodeIfPresent(Regularization.self, forKey: .regularization) ?? regularization
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? weightDecay
        l2SPAlpha = try c.decodeIfPresent(Float.self, forKey: .l2SPAlpha) ?? l2SPAlpha
        l2SPBeta = try c.decodeIfPresent(Float.self, forKey: .l2SPBeta) ?? l2SPBeta
        labelSmoothing = try c.decodeIfPresent(Float.self, forKey: .labelSmoothing) ?? labelSmoothing
        mixup = try c.decodeIfPresent(Float.self, forKey: .mixup) ?? mixup
        augment = try c.decodeIfPresent(Bool.self, forKey: .augment) ?? augment
        horizontalFlip = try c.decodeIfPresent(Bool.self, forKey: .horizontalFlip) ?? horizontalFlip
        validationSplit = try c.decodeIfPresent(Float.self, forKey: .validationSplit) ?? validationSplit
        earlyStoppingPatience = try c.decodeIfPresent(Int.self, forKey: .earlyStoppingPatience) ?? earlyStoppingPatience
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
    }

    /// The new classifier head's design.
    public var headDesign: HeadDesign {
        HeadDesign(pooling: headPooling, hiddenUnits: headHiddenUnits, dropout: headDropout)
    }

    /// Epochs of a stage.
    public func epochs(stage: Int) -> Int {
        stage == 1 ? headEpochs ?? epochs : epochs
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
        if let headEpochs, !(1...1000).contains(headEpochs) { return "head_epochs must be 1 to 1000" }
        if !(1...4096).contains(batchSize) { return "batch_size must be 1 to 4096" }
        if case let .fixed(rate) = learningRate, !(rate > 0 && rate < 10) {
            return "learning_rate must be \"auto\" or positive and below 10"
        }
        if !["adamw", "sgd"].contains(optimizer) { return "optimizer must be adamw or sgd" }
        if !(0...65536).contains(headHiddenUnits) { return "head_hidden_units must be 0 to 65536" }
        if !(headDropout >= 0 && headDropout < 1) { return "head_dropout must be in [0, 1)" }
        if freeze != "body", freeze != "none", (Int(freeze) ?? -1) < 0 { return "freeze must be body, none or a number of layer groups" }
        if !(discriminativeFactor >= 1 && discriminativeFactor <= 1000) { return "discriminative_factor must be 1 to 1000" }
        if !(weightDecay >= 0 && weightDecay < 1) { return "weight_decay must be in [0, 1)" }
        if !(l2SPAlpha >= 0 && l2SPAlpha <= 100) { return "l2_sp_alpha must be 0 to 100" }
        if !(l2SPBeta >= 0 && l2SPBeta <= 100) { return "l2_sp_beta must be 0 to 100" }
        if !(labelSmoothing >= 0 && labelSmoothing < 1) { return "label_smoothing must be in [0, 1)" }
        if !(mixup >= 0 && mixup <= 10) { return "mixup must be 0 to 10" }
        if !(validationSplit >= 0 && validationSplit < 1) { return "validation_split must be in [0, 1)" }
        if earlyStoppingPatience < 0 { return "early_stopping_patience must not be negative" }
        return nil
    }
}
