/// Images and their class labels, as one NCHW tensor.
public struct LabeledImages: Sendable {
    public var images: Tensor
    public var labels: [Int]

    public init(images: Tensor, labels: [Int]) {
        precondition(images.shape[0] == labels.count, "\(images.shape[0]) images, \(labels.count) labels")
        self.images = images
        self.labels = labels
    }

    public var count: Int { labels.count }
    public var sampleShape: [Int] { Array(images.shape.dropFirst()) }

    /// The samples at `indices`, in that order.
    public func batch(_ indices: some Collection<Int>) -> LabeledImages {
        let size = sampleShape.reduce(1, *)
        var scalars = [Float]()
        scalars.reserveCapacity(indices.count * size)
        images.scalars.withUnsafeBufferPointer { x in
            for i in indices { scalars.append(contentsOf: x[(i * size)..<((i + 1) * size)]) }
        }
        return LabeledImages(images: Tensor(shape: [indices.count] + sampleShape, scalars: scalars),
                             labels: indices.map { labels[$0] })
    }
}

/// One optimization step at a time, and evaluation, for a classifier graph whose output is logits.
public final class Trainer {
    public let graph: Graph
    public let optimizer: Optimizer
    private let executor: Executor
    public var random: RandomSource
    /// A penalty on the weights (L2-SP) whose gradient each step adds before the update.
    public var penalty: StartingPointPenalty?
    /// Training steps aim at (1 - ε) onehot + ε / classes; evaluation scores the plain labels.
    public var labelSmoothing: Float = 0
    /// Blends each training batch with a shuffled copy of itself (nil: no mixup).
    public var mixup: Mixup?

    public init(graph: Graph, optimizer: Optimizer, seed: UInt64 = 0) {
        self.graph = graph
        self.optimizer = optimizer
        self.executor = Executor(graph: graph)
        self.random = RandomSource(seed: seed)
    }

    /// Mixup if set, forward in training mode, softmax cross-entropy, backward, the penalty's gradient, update.
    /// Returns the batch's cross-entropy against its (smoothed) targets, without the penalty.
    @discardableResult
    public func step(_ batch: LabeledImages, learningRate: Float) throws -> Float {
        let mixed = mixup?.mix(batch, random: &random)
        let context = ForwardContext(isTraining: true, random: random)
        let trace = try executor.forward(mixed?.images ?? batch.images, context: context)
        random = context.random
        let (loss, gradient) = mixed.map { Mixup.loss(logits: trace.output, labels: batch.labels, mixed: $0, labelSmoothing: labelSmoothing) }
            ?? softmaxCrossEntropy(logits: trace.output, labels: batch.labels, labelSmoothing: labelSmoothing)
        _ = executor.backward(trace, gradient: gradient, computesParameterGradients: true, returning: [])
        penalty?.accumulateGradients()
        optimizer.step(learningRate: learningRate)
        return loss
    }

    public struct Evaluation: Sendable {
        public var loss: Float
        public var accuracy: Float
        public var predictions: [Int]
    }

    /// Mean loss, accuracy and predicted classes in inference mode.
    public func evaluate(_ data: LabeledImages, batchSize: Int = 256) throws -> Evaluation {
        var lossSum: Double = 0
        var predictions: [Int] = []
        for start in stride(from: 0, to: data.count, by: batchSize) {
            let batch = data.batch(start..<min(start + batchSize, data.count))
            let logits = try executor.infer(batch.images)
            lossSum += Double(softmaxCrossEntropy(logits: logits, labels: batch.labels).loss) * Double(batch.count)
            predictions += logits.argmaxRows()
        }
        let correct = zip(predictions, data.labels).filter { $0 == $1 }.count
        return Evaluation(loss: Float(lossSum / Double(max(data.count, 1))),
                          accuracy: Float(correct) / Float(max(data.count, 1)), predictions: predictions)
    }
}
