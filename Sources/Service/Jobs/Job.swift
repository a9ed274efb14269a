import Foundation

public enum JobState: String, Codable, Sendable, CaseIterable {
    case queued, running, succeeded, failed, cancelled

    public var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// Where a running job stands: its stage, the epoch within the stage, the step within the epoch.
public struct JobProgress: Codable, Sendable, Equatable {
    public var stage: Int
    public var epoch: Int
    public var epochs: Int
    public var step: Int
    public var steps: Int
}

/// One epoch's figures, stages numbered from 1.
public struct JobEpochMetrics: Codable, Sendable, Equatable {
    public var epoch: Int
    public var stage: Int
    public var trainLoss: Float
    public var validationLoss: Float?
    public var validationAccuracy: Float?

    enum CodingKeys: String, CodingKey {
        case epoch, stage
        case trainLoss = "train_loss", validationLoss = "validation_loss", validationAccuracy = "validation_accuracy"
    }
}

extension JobEpochMetrics {
    /// The same epoch of the same stage (stage 2 counts its epochs from 1 again).
    func isSameEpoch(as other: JobEpochMetrics) -> Bool { stage == other.stage && epoch == other.epoch }
}

public struct ClassMetrics: Codable, Sendable, Equatable {
    public var label: String
    public var precision: Float
    public var recall: Float
}

/// A fine-tuning job as the API shows it and the job store keeps it.
public struct Job: Codable, Sendable {
    public var id: String
    public var state: JobState
    public var request: JobRequest
    public var progress: JobProgress?
    public var metrics: [JobEpochMetrics] = []
    public var confusionMatrix: [[Int]]?
    public var labels: [String]?
    public var perClass: [ClassMetrics]?
    /// Where the head was cut, what each stage froze and trained, the range test, the best epoch.
    public var transfer: TransferPlan?
    public var error: String?
    /// The replica running the job, or that ran it last (`replica_name`).
    public var worker: String?
    public var created: Date
    public var started: Date?
    public var finished: Date?

    public var outputModel: String { request.outputModel }

    enum CodingKeys: String, CodingKey {
        case id, state, request, progress, metrics, labels, transfer, error, worker, created, started, finished
        case confusionMatrix = "confusion_matrix", perClass = "per_class", outputModel = "output_model"
    }

    package init(id: String, request: JobRequest, created: Date) {
        self.id = id
        self.state = .queued
        self.request = request
        self.created = created
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        state = try c.decode(JobState.self, forKey: .state)
        request = try c.decode(JobRequest.self, forKey: .request)
        progress = try c.decodeIfPresent(JobProgress.self, forKey: .progress)
        metrics = try c.decodeIfPresent([JobEpochMetrics].self, forKey: .metrics) ?? []
        confusionMatrix = try c.decodeIfPresent([[Int]].self, forKey: .confusionMatrix)
        labels = try c.decodeIfPresent([String].self, forKey: .labels)
        perClass = try c.decodeIfPresent([ClassMetrics].self, forKey: .perClass)
        transfer = try c.decodeIfPresent(TransferPlan.self, forKey: .transfer)
        error = try c.decodeIfPresent(String.self, forKey: .error)
        worker = try c.decodeIfPresent(String.self, forKey: .worker)
        created = try c.decode(Date.self, forKey: .created)
        started = try c.decodeIfPresent(Date.self, forKey: .started)
        finished = try c.decodeIfPresent(Date.self, forKey: .finished)
    }

    /// Every key always present, absent values as null, as the API contract shows them.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(state, forKey: .state)
        try c.encode(request, forKey: .request)
        try c.encode(progress, forKey: .progress)
        try c.encode(metrics, forKey: .metrics)
        try c.encode(confusionMatrix, forKey: .confusionMatrix)
        try c.encode(labels, forKey: .labels)
        try c.encode(perClass, forKey: .perClass)
        try c.encode(transfer, forKey: .transfer)
        try c.encode(error, forKey: .error)
        try c.encode(outputModel, forKey: .outputModel)
        try c.encode(worker, forKey: .worker)
        try c.encode(created, forKey: .created)
        try c.encode(started, forKey: .started)
        try c.encode(finished, forKey: .finished)
    }
}
