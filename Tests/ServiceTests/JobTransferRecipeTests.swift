import CNN
import Foundation
import Service
import XCTest

/// The transfer recipe's mechanics on the bundled fashion-cnn: the classifier cut and the plan
/// a job shows, frozen layers that really stay frozen, discriminative rates per group, the
/// range test, and early stopping that keeps the best epoch.
final class JobTransferRecipeTests: XCTestCase {
    private func bundled() throws -> (card: ModelCard, graph: Graph) {
        let models = try XCTUnwrap(SalientService.bundledModels)
        let loaded = try Checkpoint.load(from: models.appendingPathComponent("fashion-cnn"))
        return (loaded.card, loaded.graph)
    }

    private func fashionCNN() throws -> Graph {
        try bundled().graph
    }

    /// Images with a bright square in the left or right half, labels 0 and 1 (or flipped).
    private func squares(count: Int, seed: UInt64, flipped: Bool = false) -> LabeledImages {
        var random = RandomSource(seed: seed)
        let labels = (0..<count).map { $0 % 2 }
        let scalars = labels.flatMap { label -> [Float] in
            let column = label == 0 ? 4 : 18
            return (0..<784).map { i in
                let (y, x) = (i / 28, i % 28)
                return (x >= column && x < column + 6 && y >= 10 && y < 16 ? 1 : 0) + 0.2 * random.nextUniform()
            }
        }
        return LabeledImages(images: Tensor(shape: [count, 1, 28, 28], scalars: scalars),
                             labels: flipped ? labels.map { 1 - $0 } : labels)
    }

    private func request(_ configure: (inout JobRequest) -> Void = { _ in }) -> JobRequest {
        var request = JobRequest(baseModel: "fashion-cnn", dataset: "squares", outputModel: "o")
        request.epochs = 2
        request.batchSize = 8
        request.learningRate = 3e-3
        request.earlyStoppingPatience = 0
        configure(&request)
        return request
    }

    func testClassifierHeadIsCutAtTheLastFeatureMapAndTheJobSaysWhere() throws {
        let tuner = try FineTuner(base: try fashionCNN(), labels: ["left", "right"], request: request {
            $0.headHiddenUnits = 32
            $0.headDropout = 0.4
        })
        XCTAssertEqual(tuner.plan.head, .classifier)
        XCTAssertEqual(tuner.plan.cutAt, "pool2")
        XCTAssertEqual(tuner.plan.replaced, ["flatten", "dropout", "fc1", "fc2"])
        XCTAssertEqual(tuner.plan.newHead, ["head_flatten", "head_dropout1", "head_hidden", "head_dropout", "head_output"])
        XCTAssertEqual(tuner.plan.layerGroups, [["conv1", "bn1"], ["conv2", "bn2"]], "a BatchNorm trains with its convolution")
        XCTAssertEqual(try tuner.graph.shapes(batch: 3)[tuner.graph.outputName], [3, 2])
        XCTAssertEqual((tuner.graph.node(named: "head_dropout1")?.op as? Dropout)?.rate, 0.2, "half the dropout before the hidden layer")
        XCTAssertEqual((tuner.graph.node(named: "head_hidden")?.op as? Dense)?.inFeatures, 64 * 7 * 7, "fashion-cnn's head flattened")

        var events: [FineTuningEvent] = []
        let outcome = try XCTUnwrap(try tuner.run(train: squares(count: 24, seed: 1), validation: squares(count: 8, seed: 2),
                                                  checkpoint: nil) { events.append($0); return true })
        XCTAssertEqual(outcome.plan.stages.map(\.stage), [1, 2])
        XCTAssertEqual(outcome.plan.stages[0].frozen, ["conv1", "bn1", "conv2", "bn2"])
        XCTAssertEqual(outcome.plan.stages[0].trained, ["head_hidden", "head_output"])
        XCTAssertEqual(outcome.plan.stages[0].frozenBatchNorm, .running)
        XCTAssertEqual(outcome.plan.stages[0].learningRates, ["head": 3e-3])
        XCTAssertEqual(outcome.plan.stages[1].frozen, [])
        XCTAssertNil(outcome.plan.stages[1].frozenBatchNorm)
        XCTAssertNotNil(outcome.plan.best)
        let plans = events.compactMap { if case let .plan(plan) = $0 { return plan } else { return nil } }
        XCTAssertEqual(plans.last, outcome.plan)
        XCTAssertEqual(plans.map(\.stages.count), [0, 1, 2, 2], "at the start, as each stage starts, and at the end")

        let card = try TransferLearning.card(tuner: tuner, outcome: outcome, base: try bundled().card, dataset: "squares", seconds: 1)
        let rebuilt = try XCTUnwrap(card.architecture).makeGraph()
        try rebuilt.load(tuner.graph.namedTensors)
        XCTAssertEqual(rebuilt.nodes.map(\.name), tuner.graph.nodes.map(\.name), "the card's architecture is the trained graph")
        XCTAssertEqual(card.provenance["cut_at"], .string("pool2"))
    }

    /// Stage 1 alone: the body's weights, and with `running` its BatchNorm statistics, are the
    /// base's to the bit; `batch` moves only the statistics, `train` also BatchNorm's scale and shift.
    func testFrozenLayersAreBitIdenticalAfterStage1() throws {
        for policy in FrozenBatchNorm.allCases {
            let base = try fashionCNN()
            let before = base.namedTensors
            let tuner = try FineTuner(base: base, labels: ["left", "right"], request: request {
                $0.freeze = "body"
                $0.frozenBatchNorm = policy
            })
            _ = try tuner.run(train: squares(count: 24, seed: 1), validation: nil, checkpoint: nil) { _ in true }
            let after = tuner.graph.namedTensors
            let body = tuner.plan.layerGroups.joined()
            var changed: Set<String> = []
            for node in tuner.graph.nodes where body.contains(node.name) {
                for p in node.op.parameters + node.op.buffers where after[p.name]!.scalars != before[p.name]!.scalars {
                    changed.insert(p.name)
                }
            }
            switch policy {
            case .running: XCTAssertEqual(changed, [])
            case .batch: XCTAssertEqual(changed, ["bn1.running_mean", "bn1.running_var", "bn2.running_mean", "bn2.running_var"])
            case .train: XCTAssertEqual(changed, ["bn1.running_mean", "bn1.running_var", "bn2.running_mean", "bn2.running_var",
                                                  "bn1.weight", "bn1.bias", "bn2.weight", "bn2.bias"])
            }
            XCTAssertNotEqual(after["head_output.weight"]?.scalars, nil)
            XCTAssertEqual(tuner.plan.stages.map(\.stage), [1])
        }
    }

    /// Stage 2's groups step at the head's rate divided by the factor once per group back:
    /// one SGD step without momentum moves each weight by exactly rate × scale × gradient.
    func testDiscriminativeRatesAreAppliedPerGroup() throws {
        let tuner = try FineTuner(base: try fashionCNN(), labels: ["left", "right"], request: request {
            $0.discriminativeFactor = 4
            $0.frozenBatchNorm = .running
        })
        let stage1 = tuner.describe(stage: 1)
        XCTAssertEqual(stage1.learningRates, ["head": 3e-3])
        let stage2 = tuner.describe(stage: 2)
        XCTAssertEqual(stage2.learningRates, ["group1": 1.5e-3 / 16, "group2": 1.5e-3 / 4, "head": 1.5e-3])
        let groups = tuner.parameterGroups(stage: 2)
        XCTAssertEqual(groups.map(\.name), ["group1", "group2", "head"])
        XCTAssertEqual(groups.map(\.learningRateScale), [1 / 16, 1 / 4, 1])
        let executor = Executor(graph: tuner.graph)
        let batch = squares(count: 8, seed: 3)
        let trace = try executor.forward(batch.images, context: ForwardContext(isTraining: true))
        _ = executor.backward(trace, gradient: softmaxCrossEntropy(logits: trace.output, labels: batch.labels).gradient,
                              computesParameterGradients: true, returning: [])
        let before = groups.map { $0.parameters.map { ($0.value.scalars, $0.gradient.scalars) } }
        SGD(groups: groups, momentum: 0, weightDecay: 0).step(learningRate: 0.1)
        for (group, saved) in zip(groups, before) {
            let rate = 0.1 * group.learningRateScale
            for (p, (w, g)) in zip(group.parameters, saved) {
                XCTAssertTrue(g.contains { $0 != 0 }, "\(p.name) has a gradient")
                XCTAssertEqual(p.value.scalars, zip(w, g).map { $0 - rate * $1 }, "\(p.name) moved at \(group.name)'s rate")
            }
        }
    }

    func testHorizontalFlipCanBeTurnedOff() throws {
        let flips = try FineTuner(base: try fashionCNN(), labels: ["left", "right"], request: request())
        XCTAssertEqual(flips.augmentation.flipProbability, 0.5)
        let none = try FineTuner(base: try fashionCNN(), labels: ["left", "right"], request: request { $0.horizontalFlip = false })
        XCTAssertEqual(none.augmentation.flipProbability, 0)
    }

    func testAutoLearningRateRunsTheRangeTestFirstAndReportsIt() throws {
        let base = try fashionCNN()
        let tuner = try FineTuner(base: base, labels: ["left", "right"], request: request {
            $0.learningRate = .auto
            $0.freeze = "body"
            $0.epochs = 1
        })
        var rangeTestSteps = 0
        let outcome = try XCTUnwrap(try tuner.run(train: squares(count: 24, seed: 1), validation: nil, checkpoint: nil) { event in
            if case let .progress(p) = event, p.stage == 0 { rangeTestSteps += 1 }
            return true
        })
        let finder = try XCTUnwrap(outcome.plan.learningRateFinder)
        XCTAssertEqual(outcome.plan.learningRate, finder.suggestion)
        XCTAssertEqual(rangeTestSteps, finder.learningRates.count)
        XCTAssertEqual(outcome.plan.stages[0].learningRates["head"], finder.suggestion)
        let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(outcome.plan)) as? [String: Any]
        let json = try XCTUnwrap(encoded?["learning_rate_finder"] as? [String: Any])
        XCTAssertNotNil(json["suggestion"] as? Double)
        XCTAssertTrue(["steepest", "minimum/10"].contains(json["method"] as? String))
    }

    /// The validation split is labelled against the training images, so it gets worse as the
    /// model learns: training stops `patience` epochs after the best, and the model keeps the
    /// best epoch's weights, not the last.
    func testEarlyStoppingKeepsTheBestEpoch() throws {
        let tuner = try FineTuner(base: try fashionCNN(), labels: ["left", "right"], request: request {
            $0.freeze = "body"
            $0.epochs = 20
            $0.earlyStoppingPatience = 2
            $0.augment = false
        })
        var weights: [Int: [String: Tensor]] = [:]
        let outcome = try XCTUnwrap(try tuner.run(train: squares(count: 32, seed: 1), validation: squares(count: 16, seed: 2, flipped: true),
                                                  checkpoint: nil) { event in
            if case let .epoch(m) = event { weights[m.epoch] = tuner.graph.namedTensors }
            return true
        })
        var best: (epoch: Int, accuracy: Float, loss: Float?)?
        for m in outcome.metrics {
            let accuracy = try XCTUnwrap(m.validationAccuracy)
            if best == nil || accuracy > best!.accuracy || (accuracy == best!.accuracy && m.validationLoss! < best!.loss!) {
                best = (m.epoch, accuracy, m.validationLoss)
            }
        }
        let chosen = try XCTUnwrap(best)
        XCTAssertLessThan(outcome.metrics.count, 20, "stopped early")
        XCTAssertEqual(outcome.metrics.count, chosen.epoch + 2, "two epochs without improvement")
        XCTAssertEqual(outcome.plan.best?.epoch, chosen.epoch)
        XCTAssertEqual(outcome.validationAccuracy, chosen.accuracy)
        for (name, tensor) in try XCTUnwrap(weights[chosen.epoch]) {
            XCTAssertEqual(tuner.graph.namedTensors[name]?.scalars, tensor.scalars, "\(name) is the best epoch's")
        }
    }

    /// `regularization: l2_sp` (and `label_smoothing`, `mixup`) is what a job asks for in JSON, with limits; in
    /// training it holds the base's layers nearer their pretrained weights than the same run
    /// without the pull (alpha 0), and neither run decays the body toward zero.
    func testL2SPHoldsTheBodyNearThePretrainedWeights() throws {
        let json = #"{"base_model": "b", "dataset": "d", "output_model": "o", "regularization": "l2_sp", "l2_sp_alpha": 2.5}"#
        let decoded = try JSONDecoder().decode(JobRequest.self, from: Data(json.utf8))
        XCTAssertEqual(decoded.regularization, .l2SP)
        XCTAssertEqual(decoded.l2SPAlpha, 2.5)
        XCTAssertEqual(decoded.l2SPBeta, JobRequest(baseModel: "b", dataset: "d", outputModel: "o").l2SPBeta)
        XCTAssertNil(decoded.problem)
        XCTAssertThrowsError(try JSONDecoder().decode(JobRequest.self, from: Data(json.replacingOccurrences(of: "l2_sp\"", with: "l3\"").utf8)))
        XCTAssertEqual(request { $0.l2SPAlpha = -1 }.problem, "l2_sp_alpha must be 0 to 100")
        XCTAssertEqual(request { $0.l2SPBeta = .nan }.problem, "l2_sp_beta must be 0 to 100")
        XCTAssertEqual(request { $0.weightDecay = 1 }.problem, "weight_decay must be in [0, 1)")
        XCTAssertEqual(try JSONDecoder().decode(JobRequest.self, from: Data(json.replacingOccurrences(of: "}", with: #", "label_smoothing": 0.1}"#).utf8))
            .labelSmoothing, 0.1)
        XCTAssertEqual(request { $0.labelSmoothing = 1 }.problem, "label_smoothing must be in [0, 1)")
        XCTAssertEqual(try JSONDecoder().decode(JobRequest.self, from: Data(json.replacingOccurrences(of: "}", with: #", "mixup": 0.4}"#).utf8))
            .mixup, 0.4)
        XCTAssertEqual(request { $0.mixup = -0.4 }.problem, "mixup must be 0 to 10")

        let base = try fashionCNN()
        let pretrained = base.namedTensors
        func distanceFromBase(alpha: Float) throws -> Float {
            let tuner = try FineTuner(base: try fashionCNN(), labels: ["left", "right"], request: request {
                $0.regularization = .l2SP
                $0.l2SPAlpha = alpha
                $0.epochs = 4
                $0.learningRate = 1e-2
            })
            XCTAssertEqual(tuner.penalty?.alpha, alpha)
            let head = Set(tuner.headNodes.flatMap { name in tuner.graph.node(named: name)!.op.parameters.map(\.name) })
            XCTAssertEqual(Set(tuner.penalty!.fresh.map(\.name)), head, "the new head decays toward zero")
            XCTAssertEqual(Set(tuner.penalty!.anchored.map(\.parameter.name)), Set(tuner.graph.parameters.map(\.name)).subtracting(head))
            _ = try tuner.run(train: squares(count: 24, seed: 1, flipped: true), validation: nil, checkpoint: nil) { _ in true }
            var squares: Float = 0
            for p in tuner.penalty!.anchored.map(\.parameter) {
                squares += zip(p.value.scalars, pretrained[p.name]!.scalars).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
            }
            return squares.squareRoot()
        }
        let free = try distanceFromBase(alpha: 0), held = try distanceFromBase(alpha: 100)
        XCTAssertGreaterThan(free, 0, "stage 2 trains the body")
        XCTAssertLessThan(held, free / 2, "alpha 100 holds the body nearer the base (\(held) against \(free) without)")
    }
}
