import CNN
import Foundation

/// Turns a card and its weights file into a graph, whatever format the model is kept in.
enum ModelFormats {
    /// `budget` bounds what an ONNX file may compute at load time; files from the data folder,
    /// accepted once already, import under the importer's generous default.
    static func graph(card: ModelCard, weights: Data, budget: ONNXImportBudget = ONNXImportBudget()) throws -> Graph {
        if card.onnxFile != nil {
            return try ONNXImporter.load(data: weights, options: ONNXImportOptions(budget: budget))
        }
        guard let architecture = card.architecture else {
            throw GraphError(node: card.name, "the card has neither an architecture nor an ONNX file")
        }
        let graph = try architecture.makeGraph()
        try graph.load(Safetensors.decode(weights))
        return graph
    }

    static func onnx(_ graph: Graph) throws -> Data {
        try ONNXExporter.export(graph)
    }
}
