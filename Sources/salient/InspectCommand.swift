import ArgumentParser
import CNN
import Foundation

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per-layer output shapes, parameters, MACs and receptive fields of a model.")

    @Argument(help: "A JSON architecture, a model folder or card.json, or an ONNX file.")
    var file: String

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let analysis = try ModelAnalysis(graph: ModelFile.graph(at: file))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(analysis), as: UTF8.self))
        } else {
            print(analysis.table)
        }
    }
}
