import CNN
import Foundation
import XCTest

/// Folding is charged before it is done: a few hundred bytes cannot make the importer allocate
/// gigabytes or compute for minutes, and the refusal says which limit it met.
final class ONNXImportBudgetTests: XCTestCase {
    private let budget = ONNXImportBudget(maxWork: 1 << 31, maxConstantBytes: 768 << 20, maxSeconds: 60,
                                          settingNames: [.work: "max_import_work", .constantBytes: "max_import_constant_bytes"])

    func testGeneratedConstantsAreBoundedInBytes() throws {
        let bomb = HostileONNX.constantOfShape(elements: 1 << 28).data
        XCTAssertLessThan(bomb.count, 400)
        XCTAssertThrowsError(try ONNXImporter.load(data: bomb, options: ONNXImportOptions(budget: budget))) { error in
            let refusal = error as? ONNXBudgetError
            XCTAssertEqual(refusal?.limit, .constantBytes, "\(error)")
            XCTAssertTrue("\(error)".contains("max_import_constant_bytes"), "\(error)")
        }
        // The same file with a small constant imports and computes x + mean(ones) = x + 1.
        let small = try ONNXImporter.load(data: HostileONNX.constantOfShape(elements: 1000).data, options: ONNXImportOptions(budget: budget))
        XCTAssertEqual(try Executor(graph: small).infer(Tensor(shape: [1, 1, 2, 2], scalars: [0, 1, 2, 3])).scalars, [1, 2, 3, 4])
    }

    /// A convolution of 64 channels over a 512x512 constant image with 11x11 kernels: 125
    /// billion multiply-accumulates from a file of a few hundred bytes, and little output.
    func testFoldingIsBoundedByWorkNotOutputSize() throws {
        let bomb = HostileONNX.convolutionOverConstants(channels: 64, side: 512, kernel: 11).data
        let started = Date()
        XCTAssertThrowsError(try ONNXImporter.load(data: bomb, options: ONNXImportOptions(budget: budget))) { error in
            XCTAssertEqual((error as? ONNXBudgetError)?.limit, .work, "\(error)")
            XCTAssertTrue("\(error)".contains("max_import_work") && "\(error)".contains("folded_conv"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "refused before the convolution runs")
        // Two channels of 8x8 with 3x3 kernels of 0.001: each output is 2 * 9 * 0.001.
        let small = try ONNXImporter.load(data: HostileONNX.convolutionOverConstants(channels: 2, side: 8, kernel: 3).data,
                                          options: ONNXImportOptions(budget: budget))
        let y = try Executor(graph: small).infer(Tensor(shape: [1, 1, 2, 2], scalars: [0, 0, 0, 0])).scalars
        for value in y { XCTAssertEqual(value, 0.018, accuracy: 1e-5) }
    }

    func testAnImportIsBoundedInTime() throws {
        var quick = budget
        quick.maxSeconds = 0
        assertRefusal(HostileONNX.longChain(count: 50).data, under: quick, for: .seconds, naming: "max_import_seconds")
        XCTAssertNoThrow(try ONNXImporter.load(data: HostileONNX.longChain(count: 50).data, options: ONNXImportOptions(budget: budget)))
    }

    func testNodeCountIsBoundedBeforeAnyIsRead() throws {
        var small = budget
        small.maxNodes = 1000
        // A chain of ReLUs then a Flatten: 1,001 nodes.
        assertRefusal(HostileONNX.longChain(count: 1000).data, under: small, for: .nodes, naming: "max_import_nodes",
                      saying: "1001 nodes")
        XCTAssertNoThrow(try ONNXImporter.load(data: HostileONNX.longChain(count: 999).data, options: ONNXImportOptions(budget: small)))
    }

    /// Importing `model` under `budget` is refused for `limit`, the refusal naming `setting` (and
    /// saying `detail`).
    private func assertRefusal(_ model: Data, under budget: ONNXImportBudget, for limit: ONNXImportBudget.Limit,
                               naming setting: String, saying detail: String? = nil, line: UInt = #line) {
        var named = budget
        named.settingNames[limit] = setting
        XCTAssertThrowsError(try ONNXImporter.load(data: model, options: ONNXImportOptions(budget: named)), line: line) { error in
            XCTAssertEqual((error as? ONNXBudgetError)?.limit, limit, "\(error)", line: line)
            XCTAssertTrue("\(error)".contains(setting) && detail.map { "\(error)".contains($0) } != false, "\(error)", line: line)
        }
    }

    /// A graph at the service's default node limit (50,000) imports, plans its memory and runs in
    /// seconds: planning it compared every buffer with every other through dictionaries and took
    /// minutes (a chain of 32,000 ReLUs: 109 s in release).
    func testAGraphAtTheServiceNodeLimitLoadsAndRunsInBoundedTime() throws {
        let started = Date()
        let graph = try ONNXImporter.load(data: HostileONNX.longChain(count: 49_999).data)
        let output = try Executor(graph: graph).infer(Tensor(shape: [1, 1, 2, 2], scalars: [-1, 2, -3, 4]))
        XCTAssertEqual(output.scalars, [0, 2, 0, 4])
        XCTAssertLessThan(Date().timeIntervalSince(started), 30, "50,000 nodes should load and run in seconds")
    }
}
