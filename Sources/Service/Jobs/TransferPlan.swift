import CNN

/// What a fine-tuning job did to the base model and how it trains it, as the job shows it:
/// where the head was cut, the layer groups, each stage's frozen and trained layers and rates,
/// the learning-rate range test and the epoch whose weights were kept.
public struct TransferPlan: Codable, Sendable, Equatable {
    public var head: HeadChoice
    /// The node the new head reads (`classifier`); nil with `last`.
    public var cutAt: String?
    /// The base model's nodes that were taken out (`classifier`) or re-initialized (`last`).
    public var replaced: [String]
    /// The new head's nodes, in order.
    public var newHead: [String]
    /// The body's layer groups, earliest first: each group's nodes with weights.
    public var layerGroups: [[String]]
    /// The peak learning rate of stage 1, given or found.
    public var learningRate: Float?
    public var learningRateFinder: LearningRateFinder.Result?
    public var stages: [Stage]
    /// The epoch whose weights the model keeps; nil until one is chosen.
    public var best: BestEpoch?

    public init(head: HeadChoice, cutAt: String?, replaced: [String], newHead: [String], layerGroups: [[String]],
                learningRate: Float?, learningRateFinder: LearningRateFinder.Result?, stages: [Stage], best: BestEpoch?) {
        self.head = head
        self.cutAt = cutAt
        self.replaced = replaced
        self.newHead = newHead
        self.layerGroups = layerGroups
        self.learningRate = learningRate
        self.learningRateFinder = learningRateFinder
        self.stages = stages
        self.best = best
    }

    public struct Stage: Codable, Sendable, Equatable {
        public var stage: Int
        /// Nodes with weights that do not change in this stage.
        public var frozen: [String]
        /// Nodes with weights that train, each at its group's rate.
        public var trained: [String]
        /// Each trained group's peak learning rate ("group1", ..., "head").
        public var learningRates: [String: Float]
        /// What the BatchNorm layers of frozen groups do.
        public var frozenBatchNorm: FrozenBatchNorm?

        enum CodingKeys: String, CodingKey {
            case stage, frozen, trained, learningRates = "learning_rates", frozenBatchNorm = "frozen_batchnorm"
        }
    }

    public struct BestEpoch: Codable, Sendable, Equatable {
        public var stage: Int
        public var epoch: Int
        public var validationAccuracy: Float
        public var validationLoss: Float?

        enum CodingKeys: String, CodingKey {
            case stage, epoch, validationAccuracy = "validation_accuracy", validationLoss = "validation_loss"
        }
    }

    enum CodingKeys: String, CodingKey {
        case head, cutAt = "cut_at", replaced, newHead = "new_head", layerGroups = "layer_groups"
        case learningRate = "learning_rate", learningRateFinder = "learning_rate_finder", stages, best
    }
}
