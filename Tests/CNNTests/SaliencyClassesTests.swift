import CNN
import XCTest

/// The identity, counting the images it sees: how many forward passes a computation ran.
private final class ImageCounter: Operator {
    let kind = "image_counter"
    var images = 0

    func outputShape(for inputShapes: [[Int]]) throws -> [Int] { inputShapes[0] }

    func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext) {
        images += inputs[0].shape[0]
        output.scalars.update(from: inputs[0].scalars, count: output.count)
    }

    func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor, context: BackwardContext) -> [Tensor?] {
        [outputGradient]
    }
}

/// Several classes at once: each class's map is the one it gets alone, and the forward passes
/// are those of one class.
final class SaliencyClassesTests: XCTestCase {
    /// conv (3x3, ReLU) -> flatten -> dense to three classes -> softmax, on 3x16x16 inputs.
    private func model() throws -> Graph {
        var random = RandomSource(seed: 1)
        func parameter(_ name: String, _ shape: [Int]) -> Parameter {
            Parameter(name: name, value: Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in random.nextNormal() }))
        }
        return try Graph(name: "small", inputShape: [3, 16, 16], nodes: [
            Node(name: "conv", op: Conv2D(weight: parameter("c.w", [2, 3, 3, 3]), bias: parameter("c.b", [2]),
                                          padding: .same(lower: false), activation: .relu), inputs: ["input"]),
            Node(name: "flat", op: Flatten(), inputs: ["conv"]),
            Node(name: "logits", op: Dense(weight: parameter("d.w", [3, 512]), bias: nil), inputs: ["flat"]),
            Node(name: "probs", op: Softmax(axis: 1), inputs: ["logits"]),
        ])
    }

    private func counted() throws -> (Graph, ImageCounter) {
        let region = try model()
        let counter = ImageCounter()
        let graph = try Graph(name: "counted", inputShape: region.inputShape,
                              nodes: [Node(name: "count", op: counter, inputs: ["input"])]
                                  + region.nodes.map { Node(name: $0.name, op: $0.op, inputs: $0.inputs == ["input"] ? ["count"] : $0.inputs) })
        return (graph, counter)
    }

    func testEachClassGetsTheMapItGetsAloneFromTheSameForwardPasses() throws {
        let (graph, counter) = try counted()
        let computer = SaliencyComputer(executor: Executor(graph: graph))
        let input = randomTensor([1, 3, 16, 16], seed: 4).map { abs($0) }
        var options = SaliencyOptions()
        options.steps = 6
        options.batchSize = 3
        for method in SaliencyMethod.allCases {
            counter.images = 0
            let alone = try [2, 0].map { try computer.compute(method, input: input, targetClass: $0, options: options) }
            let imagesForOne = counter.images / 2
            counter.images = 0
            let together = try computer.compute(method, input: input, targets: .classes([2, 0]), options: options)
            XCTAssertEqual(counter.images, imagesForOne, "\(method): two classes take the forward passes of one")
            XCTAssertEqual(together.map(\.targetClass), [2, 0], "\(method)")
            for (one, both) in zip(alone, together) {
                XCTAssertEqual(one.attribution.shape, both.attribution.shape)
                XCTAssertEqual(one.score, both.score, "\(method)")
                let largest = one.attribution.scalars.map { abs($0) }.max()!
                for (a, b) in zip(one.attribution.scalars, both.attribution.scalars) {
                    XCTAssertEqual(a, b, accuracy: 1e-6 * max(largest, 1), "\(method), class \(one.targetClass)")
                }
                XCTAssertEqual(one.completenessError == nil, both.completenessError == nil)
            }
        }
    }

    func testTopKIsTheKHighestScoresInOrder() throws {
        let graph = try model()
        let computer = SaliencyComputer(executor: Executor(graph: graph))
        let input = randomTensor([1, 3, 16, 16], seed: 5).map { abs($0) }
        let logits = try Executor(graph: graph).forward(input, context: ForwardContext(isTraining: false)).activations["logits"]!.scalars
        let ranked = logits.indices.sorted { logits[$0] > logits[$1] }
        for method in [SaliencyMethod.gradient, .gradcam, .integratedGradients] {
            XCTAssertEqual(try computer.compute(method, input: input, targets: .top(2)).map(\.targetClass), Array(ranked.prefix(2)))
            XCTAssertEqual(try computer.compute(method, input: input, targets: .top(9)).map(\.targetClass), ranked,
                           "more than the model has is every class")
        }
        XCTAssertThrowsError(try computer.compute(.gradient, input: input, targets: .classes([0, 3])))
    }
}
