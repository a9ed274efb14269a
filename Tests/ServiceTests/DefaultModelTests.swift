import CNN
import Foundation
import Service
import XCTest

/// The embedded default model is what its card says it is.
final class DefaultModelTests: XCTestCase {
    func testEmbeddedFashionCNNReachesItsAccuracyOnTheTestSet() throws {
        guard FileManager.default.fileExists(atPath: FashionMNIST.directory.path) else {
            throw XCTSkip("dataset-fashion-mnist is not installed")
        }
        let folder = try XCTUnwrap(SalientService.bundledModels).appendingPathComponent("fashion-cnn")
        let (card, graph, _) = try Checkpoint.load(from: folder)
        XCTAssertEqual(card.labels, FashionMNIST.labels)
        let test = try FashionMNIST.load(training: false)
        let evaluation = try Trainer(graph: graph, optimizer: SGD(groups: [])).evaluate(test)
        XCTAssertGreaterThanOrEqual(evaluation.accuracy, 0.91)
        XCTAssertEqual(Double(evaluation.accuracy), try XCTUnwrap(card.metrics["test_accuracy"]), accuracy: 1e-4)
    }
}
