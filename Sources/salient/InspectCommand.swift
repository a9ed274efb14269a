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

    @Flag(help: "Only where a fine-tuning job with head: classifier would cut the model, and what it would replace.")
    var cut = false

    func run() throws {
        let graph = try ModelFile.graph(at: file)
        if cut {
            let found = try graph.classifierCut()
            print("cut at '\(found.node)' (\(found.featureShape.map(String.init).joined(separator: "x")), "
                  + "\(found.pools ? "pooled" : "flattened") by the old head); replaces \(found.removed.count) nodes: "
                  + found.removed.joined(separator: ", "))
            return
        }
        let analysis = try ModelAnalysis(graph: graph)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(analysis), as: UTF8.self))
        } else {
            print(analysis.table)
        }
    }
}
