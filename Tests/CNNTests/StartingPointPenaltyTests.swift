import CNN
import XCTest

/// L2-SP: its gradient against central differences of its own value, and an update on it
/// alone moving pretrained weights toward where they started and new ones toward zero.
final class StartingPointPenaltyTests: XCTestCase {
    private func parameter(_ name: String, count: Int, seed: UInt64) -> Parameter {
        var random = RandomSource(seed: seed)
        return Parameter(name: name, value: Tensor(shape: [count], scalars: (0..<count).map { _ in random.nextUniform() * 2 - 1 }))
    }

    /// Moves every value by a different amount, as training would.
    private func perturb(_ parameter: Parameter, seed: UInt64) {
        var random = RandomSource(seed: seed)
        for i in parameter.value.scalars.indices { parameter.value.scalars[i] += random.nextUniform() - 0.5 }
    }

    func testGradientMatchesFiniteDifferences() {
        let pretrained = [parameter("conv", count: 12, seed: 1), parameter("bias", count: 3, seed: 2)]
        let fresh = parameter("head", count: 5, seed: 3)
        let penalty = StartingPointPenalty(pretrained: pretrained, alpha: 0.3, fresh: [fresh], beta: 0.07)
        XCTAssertEqual(penalty.value, 0.07 / 2 * fresh.value.scalars.map { $0 * $0 }.reduce(0, +), accuracy: 1e-6,
                       "at the start only the new head is penalized")
        for (index, p) in (pretrained + [fresh]).enumerated() { perturb(p, seed: 10 + UInt64(index)) }

        for p in pretrained + [fresh] { p.zeroGradient() }
        penalty.accumulateGradients()
        let h: Float = 1e-2
        for p in pretrained + [fresh] {
            for i in p.value.scalars.indices {
                let original = p.value.scalars[i]
                p.value.scalars[i] = original + h
                let plus = penalty.value
                p.value.scalars[i] = original - h
                let minus = penalty.value
                p.value.scalars[i] = original
                let numeric = (plus - minus) / (2 * h)
                XCTAssertEqual(p.gradient.scalars[i], numeric, accuracy: 1e-3 * max(1, abs(numeric)), "\(p.name)[\(i)]")
            }
        }
    }

    func testGradientAddsToTheLossGradientAndSkipsFrozenParameters() {
        let trained = parameter("trained", count: 4, seed: 1), frozen = parameter("frozen", count: 4, seed: 2)
        let penalty = StartingPointPenalty(pretrained: [trained, frozen], alpha: 2, fresh: [], beta: 0)
        let start = trained.value.scalars
        perturb(trained, seed: 3)
        perturb(frozen, seed: 4)
        frozen.isTrainable = false
        trained.gradient.scalars = [1, 1, 1, 1]
        penalty.accumulateGradients()
        for i in 0..<4 {
            XCTAssertEqual(trained.gradient.scalars[i], 1 + 2 * (trained.value.scalars[i] - start[i]), accuracy: 1e-6)
        }
        XCTAssertEqual(frozen.gradient.scalars, [0, 0, 0, 0])
    }

    /// With no loss gradient, SGD on the penalty alone shrinks each pretrained weight's distance
    /// from its start, and each new weight, by (1 - rate × strength) a step; weight decay
    /// instead would pull the pretrained weights toward zero.
    func testPullsPretrainedWeightsTowardTheStartAndNewOnesTowardZero() {
        let body = parameter("body", count: 8, seed: 1), head = parameter("head", count: 8, seed: 2)
        let start = body.value.scalars
        let penalty = StartingPointPenalty(pretrained: [body], alpha: 0.5, fresh: [head], beta: 0.25)
        perturb(body, seed: 3)
        let (moved, headBefore) = (body.value.scalars, head.value.scalars)
        let optimizer = SGD(groups: [ParameterGroup(name: "all", parameters: [body, head])], momentum: 0, weightDecay: 0)
        let (rate, steps): (Float, Int) = (0.1, 20)
        for _ in 0..<steps {
            penalty.accumulateGradients()
            optimizer.step(learningRate: rate)
        }
        for i in 0..<8 {
            XCTAssertEqual(body.value.scalars[i] - start[i], (moved[i] - start[i]) * pow(1 - rate * 0.5, Float(steps)), accuracy: 1e-5)
            XCTAssertEqual(head.value.scalars[i], headBefore[i] * pow(1 - rate * 0.25, Float(steps)), accuracy: 1e-5)
        }
        let distance = zip(body.value.scalars, start).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
        let movedDistance = zip(moved, start).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
        XCTAssertLessThan(distance, movedDistance / 5, "0.95^20 of the distance is left, squared 0.13")
    }

    func testAParameterListedTwiceCountsOnce() {
        let shared = parameter("shared", count: 3, seed: 1)
        let penalty = StartingPointPenalty(pretrained: [shared, shared], alpha: 1, fresh: [shared], beta: 1)
        perturb(shared, seed: 2)
        XCTAssertEqual(penalty.anchored.count, 1)
        XCTAssertTrue(penalty.fresh.isEmpty, "pretrained wins")
        penalty.accumulateGradients()
        let start = penalty.anchored[0].start
        for i in 0..<3 { XCTAssertEqual(shared.gradient.scalars[i], shared.value.scalars[i] - start[i], accuracy: 1e-6) }
    }
}
