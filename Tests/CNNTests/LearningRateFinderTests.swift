import CNN
import Foundation
import XCTest

/// The learning-rate range test: fastai's choice on recorded curves, and a run that leaves the
/// model as it found it.
final class LearningRateFinderTests: XCTestCase {
    /// Rates from 1e-7 to 10 as the finder spaces them.
    private func rates(_ count: Int) -> [Float] {
        (0..<count).map { 1e-7 * pow(1e8, Float($0) / Float(count)) }
    }

    func testPicksTheRateAtTheSteepestDescent() {
        // A loss that is flat, falls fastest at 1e-3 (a logistic step in log10 of the rate), then flattens.
        let lrs = rates(100)
        let losses = lrs.map { 0.5 + 2 / (1 + exp(3 * (log10($0) + 3))) }
        let (suggestion, method) = LearningRateFinder.suggest(learningRates: lrs, losses: losses, iterations: 100)
        XCTAssertEqual(method, .steepest)
        XCTAssertEqual(log10(suggestion), -3, accuracy: 0.1, "\(suggestion)")
    }

    func testIgnoresTheFirstTenthAndTheLastFivePoints() {
        let lrs = rates(100)
        var losses = [Float](repeating: 1, count: 100)
        losses[3] = 0.1  // noise at the start
        losses[97] = -5  // divergence's last gasp at the end
        for i in 40..<60 { losses[i] = 1 - Float(i - 40) * 0.01 }
        for i in 60..<95 { losses[i] = 0.8 }
        let (suggestion, method) = LearningRateFinder.suggest(learningRates: lrs, losses: losses, iterations: 100)
        XCTAssertEqual(method, .steepest)
        XCTAssertTrue(lrs[40...59].contains(suggestion), "\(suggestion)")
    }

    func testFallsBackToATenthOfTheMinimumWhenTheLossNeverFalls() {
        let lrs = rates(100)
        let rising = lrs.indices.map { 1 + Float($0) * 0.01 }
        let (suggestion, method) = LearningRateFinder.suggest(learningRates: lrs, losses: rising, iterations: 100)
        XCTAssertEqual(method, .minimumOverTen)
        XCTAssertEqual(suggestion, lrs[10] / 10, "the lowest point kept (the tenth) over ten")
    }

    func testStopsAtTheFirstNonFiniteLoss() {
        let lrs = rates(100)
        var losses = lrs.map { 0.5 + 2 / (1 + exp(3 * (log10($0) + 3))) }
        for i in 70..<100 { losses[i] = .nan }
        let (suggestion, _) = LearningRateFinder.suggest(learningRates: lrs, losses: losses, iterations: 100)
        XCTAssertEqual(log10(suggestion), -3, accuracy: 0.1)
        XCTAssertEqual(LearningRateFinder.suggest(learningRates: [], losses: [], iterations: 100).1, .minimumOverTen)
    }

    /// On a small convolutional classifier: the curve has a point per step until divergence,
    /// the suggestion is one of its rates, and every weight and statistic is put back.
    func testRunRecordsACurveAndRestoresTheModel() throws {
        let graph = try Architecture(json: Data("""
        {"name": "small", "input": {"channels": 1, "height": 8, "width": 8},
         "layers": [{"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same", "use_bias": false}, {"type": "batchnorm"},
                    {"type": "relu"}, {"type": "maxpool2d", "kernel": 2}, {"type": "flatten"}, {"type": "dense", "units": 2}]}
        """.utf8)).makeGraph(seed: 3)
        var random = RandomSource(seed: 4)
        let labels = (0..<32).map { $0 % 2 }
        let images = Tensor(shape: [32, 1, 8, 8], scalars: labels.flatMap { label in
            (0..<64).map { i in Float((i / 32) == label ? 1 : 0) + 0.3 * random.nextNormal() }
        })
        let before = graph.namedTensors
        let trainer = Trainer(graph: graph, optimizer: AdamW(groups: [ParameterGroup(name: "all", parameters: graph.parameters)]))
        // One batch of all the images: the curve moves only as training does, not from batch to batch.
        let result = try LearningRateFinder().run(trainer, on: LabeledImages(images: images, labels: labels), batchSize: 32, seed: 1)
        XCTAssertGreaterThan(result.learningRates.count, 20)
        XCTAssertLessThanOrEqual(result.learningRates.count, 100)
        XCTAssertEqual(result.learningRates.count, result.losses.count)
        XCTAssertEqual(result.learningRates.first, 1e-7)
        XCTAssertTrue(zip(result.learningRates, result.learningRates.dropFirst()).allSatisfy { $0 < $1 }, "exponentially increasing")
        XCTAssertTrue(result.learningRates.contains(result.suggestion) || result.method == .minimumOverTen)
        XCTAssertEqual(result.method, .steepest)
        let minimum = result.losses.indices.min { result.losses[$0] < result.losses[$1] }!
        XCTAssertLessThan(result.suggestion, result.learningRates[minimum], "on the way down to the minimum: \(result.losses)")
        XCTAssertGreaterThan(result.suggestion, 1e-5, "where the loss falls, not in the flat start: \(result.losses)")
        for (name, tensor) in before {
            XCTAssertEqual(graph.namedTensors[name]?.scalars, tensor.scalars, "\(name) is restored")
        }
        XCTAssertTrue(graph.parameters.allSatisfy { $0.gradient.scalars.allSatisfy { $0 == 0 } })
    }
}
