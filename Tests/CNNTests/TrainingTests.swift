import CNN
import Foundation
import XCTest

final class TrainingTests: XCTestCase {
    static let smallCNN = #"{"name":"fashion-small","input":{"channels":1,"height":28,"width":28},"layers":[{"type":"conv2d","filters":32,"kernel":3,"padding":"same","activation":"relu"},{"type":"maxpool2d","kernel":2},{"type":"conv2d","filters":64,"kernel":3,"padding":"same","activation":"relu"},{"type":"maxpool2d","kernel":2},{"type":"flatten"},{"type":"dense","units":128,"activation":"relu"},{"type":"dense","units":10}]}"#

    /// A small CNN learns Fashion-MNIST: a subset of the training set, a few epochs, the
    /// first 2,000 test images.
    func testSmallCNNLearnsFashionMNIST() throws {
        guard FileManager.default.fileExists(atPath: FashionMNIST.directory.path) else {
            throw XCTSkip("dataset-fashion-mnist is not installed")
        }
        let train = try FashionMNIST.load(training: true, limit: 20_000)
        let test = try FashionMNIST.load(training: false, limit: 2_000)
        let graph = try Architecture(json: Data(Self.smallCNN.utf8)).makeGraph(seed: 1)
        let optimizer = AdamW(groups: [ParameterGroup(name: "all", parameters: graph.parameters)], weightDecay: 1e-4)
        let trainer = Trainer(graph: graph, optimizer: optimizer, seed: 2)
        let epochs = 3, batchSize = 64
        let stepsPerEpoch = train.count / batchSize
        var random = RandomSource(seed: 3)
        var step = 0
        let started = Date()
        for _ in 0..<epochs {
            let order = Array(0..<train.count).shuffled(using: &random)
            for b in 0..<stepsPerEpoch {
                let lr = Schedule.oneCycle.learningRate(peak: 3e-3, step: step, totalSteps: epochs * stepsPerEpoch)
                try trainer.step(train.batch(order[(b * batchSize)..<((b + 1) * batchSize)]), learningRate: lr)
                step += 1
            }
        }
        let result = try trainer.evaluate(test)
        print("fashion-mnist: \(epochs) epochs on \(train.count) images in \(Int(Date().timeIntervalSince(started))) s, test accuracy \(result.accuracy)")
        XCTAssertGreaterThanOrEqual(result.accuracy, 0.88)
    }
}
