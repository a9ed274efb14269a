import CNN
import XCTest

final class FidelityTests: XCTestCase {
    /// Evidence by construction: class 0's score reads a fine checkerboard in an 8x8 block of
    /// a 32x32 image (+ on its light squares, - on its dark ones, all channels) and nothing
    /// else; class 1's is zero. Deleting the light squares, or blurring the block (the
    /// insertion start), takes the evidence away.
    private func checkerModel() throws -> Graph {
        var weights = Tensor(zeros: [2, 3 * 32 * 32])
        for c in 0..<3 { for y in 8..<16 { for x in 16..<24 { weights.scalars[c * 1024 + y * 32 + x] = (x + y) % 2 == 0 ? 0.05 : -0.05 } } }
        let dense = Dense(weight: Parameter(name: "d.w", value: weights),
                          bias: Parameter(name: "d.b", value: Tensor(shape: [2], scalars: [-2, 0])))
        return try Graph(name: "checker", inputShape: [3, 32, 32], nodes: [
            Node(name: "flat", op: Flatten(), inputs: ["input"]),
            Node(name: "logits", op: dense, inputs: ["flat"]),
        ])
    }

    func testAFaithfulMapBeatsChanceAndAnUnfaithfulOneDoesNot() throws {
        let graph = try checkerModel()
        let computer = SaliencyComputer(executor: Executor(graph: graph))
        var input = randomTensor([1, 3, 32, 32], seed: 11).map { min(abs($0) * 0.3, 1) }
        for c in 0..<3 { for y in 8..<16 { for x in 16..<24 { input[0, c, y, x] = (x + y) % 2 == 0 ? 1 : 0 } } }
        // The gradient is the evidence's weight: the block first. Its reverse puts the block last.
        let saliency = try computer.compute(.gradient, input: input, targetClass: 0)
        let map = ChannelReduction.maxAbs.apply(saliency.attribution).map { $0 + 0.01 }
        let scorer = FidelityScorer(computer: computer)
        let faithful = try scorer.curves(input: input, map: map, target: 0, steps: 64, batchSize: 7)
        let reversed = try scorer.curves(input: input, map: map.map { -$0 }, target: 0, steps: 64, batchSize: 65)
        XCTAssertEqual(faithful.deletion.count, 65)
        let p = { (x: Tensor) -> Float in
            let logits = try! Executor(graph: graph).infer(x).scalars
            return 1 / (1 + exp(logits[1] - logits[0]))
        }
        XCTAssertEqual(faithful.deletion[0], p(input), accuracy: 1e-5)
        XCTAssertGreaterThan(faithful.deletion[0], 0.9)
        XCTAssertEqual(faithful.deletion[64], p(Tensor(zeros: input.shape)), accuracy: 1e-5)
        XCTAssertEqual(faithful.insertion[0], p(GaussianBlur.standard(forHeight: 32, width: 32).apply(input)), accuracy: 1e-5)
        XCTAssertLessThan(faithful.insertion[0], 0.3, "the blur takes the evidence away")
        XCTAssertEqual(faithful.insertion[64], p(input), accuracy: 1e-5)
        for (a, b) in zip(faithful.randomDeletion, reversed.randomDeletion) {
            XCTAssertEqual(a, b, accuracy: 1e-6, "one seeded order, whatever the batch")
        }
        let area = FidelityCurves.area
        XCTAssertLessThan(area(faithful.deletion) + 0.2, area(faithful.randomDeletion))
        XCTAssertGreaterThan(area(faithful.insertion), area(faithful.randomInsertion) + 0.2)
        XCTAssertGreaterThan(area(reversed.deletion), area(reversed.randomDeletion) + 0.2)
        XCTAssertLessThan(area(reversed.insertion) + 0.2, area(reversed.randomInsertion))
    }

    func testTrapezoidArea() {
        XCTAssertEqual(FidelityCurves.area([1, 1, 1]), 1)
        XCTAssertEqual(FidelityCurves.area([1, 0]), 0.5)
        XCTAssertEqual(FidelityCurves.area([0, 1, 0, 1, 0]), 0.5)
    }
}
