import CNN
import Foundation
import Service
import XCTest

/// The fine-tuning core without HTTP: head replacement on a graph, the stage plan with
/// discriminative learning rates, and resumption from a checkpoint.
final class JobFineTunerTests: XCTestCase {
    private func architecture() throws -> Architecture {
        try Architecture(json: Data("""
        {"name": "tiny", "input": {"channels": 1, "height": 6, "width": 6},
         "layers": [{"type": "conv2d", "name": "c1", "filters": 2, "kernel": 3, "activation": "relu"},
                    {"type": "conv2d", "name": "c2", "filters": 2, "kernel": 3, "activation": "relu"},
                    {"type": "flatten"}, {"type": "dense", "name": "d1", "units": 6, "activation": "relu"},
                    {"type": "dense", "name": "head", "units": 5}, {"type": "softmax"}]}
        """.utf8))
    }

    private func data(count: Int, seed: UInt64) -> LabeledImages {
        var random = RandomSource(seed: seed)
        let labels = (0..<count).map { $0 % 2 }
        let scalars = labels.flatMap { label in (0..<36).map { i in Float((i / 18) == label ? 1 : 0) + 0.1 * random.nextNormal() } }
        return LabeledImages(images: Tensor(shape: [count, 1, 6, 6], scalars: scalars), labels: labels)
    }

    func testReplacesTheLastDenseAndKeepsWhatFollows() throws {
        let graph = try architecture().makeGraph(seed: 1)
        let result = try HeadReplacement.replacing(of: graph, classes: 2, choice: .last, seed: 3)
        XCTAssertEqual(result.headNodes, ["head"])
        XCTAssertEqual(result.bodyGroups, [["c1"], ["c2"], ["d1"]])
        XCTAssertEqual(try result.graph.shapes(batch: 4)[result.graph.outputName], [4, 2])
        XCTAssertEqual(result.graph.nodes.last?.op.kind, "softmax")
        XCTAssertEqual(graph.node(named: "c1")?.op.parameters.first?.value, result.graph.node(named: "c1")?.op.parameters.first?.value)
        XCTAssertEqual(try graph.shapes(batch: 1)[graph.outputName], [1, 5], "the base graph is left as it was")

        let headless = try Graph(name: "convs", inputShape: [1, 6, 6], nodes: graph.nodes.prefix(2).map { $0 })
        XCTAssertThrowsError(try HeadReplacement.replacing(of: headless, classes: 2, choice: .last, seed: 0))
        XCTAssertThrowsError(try HeadReplacement.replacing(of: graph, classes: 1, choice: .last, seed: 0))
    }

    func testStagesFreezeTheBodyThenUnfreezeWithDiscriminativeRates() throws {
        var request = JobRequest(baseModel: "tiny", dataset: "d", outputModel: "o")
        request.head = .last
        request.freeze = "1"
        request.discriminativeFactor = 2
        let tuner = try FineTuner(base: try architecture().makeGraph(), labels: ["a", "b"], request: request)
        let stage1 = tuner.parameterGroups(stage: 1)
        XCTAssertEqual(stage1.map(\.isFrozen), [true, true, true, false])
        XCTAssertTrue(stage1[0].parameters.allSatisfy { !$0.isTrainable })
        let stage2 = tuner.parameterGroups(stage: 2)
        XCTAssertEqual(stage2.map(\.isFrozen), [true, false, false, false])
        XCTAssertEqual(stage2.map(\.learningRateScale), [0.125, 0.25, 0.5, 1])
        XCTAssertEqual(stage2.last?.parameters.map(\.name), ["head.weight", "head.bias"])
        request.freeze = "body"
        XCTAssertNil(request.frozenGroupsInStage2(groupCount: 3))
    }

    func testStoppedRunResumesAfterItsLastCheckpointedEpoch() throws {
        let base = try architecture().makeGraph(seed: 5)
        let weights = base.namedTensors
        var request = JobRequest(baseModel: "tiny", dataset: "d", outputModel: "o")
        request.epochs = 3
        request.batchSize = 8
        request.learningRate = 0.01
        request.earlyStoppingPatience = 0
        let (train, validation) = TransferLearning.split(data(count: 40, seed: 1), fraction: 0.25, seed: 0)
        XCTAssertEqual(validation?.count, 10)
        XCTAssertEqual(validation.map { $0.labels.filter { $0 == 0 }.count }, 5)
        let checkpoint = FileManager.default.temporaryDirectory.appendingPathComponent("finetune-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: checkpoint) }

        let first = try FineTuner(base: base, labels: ["a", "b"], request: request)
        let stopped = try first.run(train: train, validation: validation, checkpoint: checkpoint) { event in
            if case let .epoch(m) = event, m.stage == 1, m.epoch == 2 { return false }
            return true
        }
        XCTAssertNil(stopped)

        let restarted = try architecture().makeGraph(seed: 99)
        try restarted.load(weights)
        let second = try FineTuner(base: restarted, labels: ["a", "b"], request: request)
        var progress: [JobProgress] = []
        let outcome = try XCTUnwrap(try second.run(train: train, validation: validation, checkpoint: checkpoint) { event in
            if case let .progress(p) = event { progress.append(p) }
            return true
        })
        XCTAssertEqual(progress.first.map { [$0.stage, $0.epoch, $0.step] }, [1, 3, 1])
        XCTAssertEqual(outcome.metrics.map { [$0.stage, $0.epoch] }, [[1, 1], [1, 2], [1, 3], [2, 1], [2, 2], [2, 3]])
        let best = outcome.metrics.compactMap(\.validationAccuracy).max()
        XCTAssertEqual(outcome.validationAccuracy, best, "the best epoch's weights are kept")
        let report = try XCTUnwrap(outcome.report)
        XCTAssertEqual(report.confusionMatrix.flatMap { $0 }.reduce(0, +), 10)
        XCTAssertEqual(report.perClass.map(\.label), ["a", "b"])
    }
}
