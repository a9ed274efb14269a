import CNN
import Foundation

/// Turns a card and its weights file into a graph, whatever format the model is kept in.
enum ModelFormats {
    static func graph(card: ModelCard, weights: Data) throws -> Graph {
        if card.onnxFile != nil {
            throw GraphError(node: card.name, "ONNX models are not supported by this build")
        }
        guard let architecture = card.architecture else {
            throw GraphError(node: card.name, "the card has neither an architecture nor an ONNX file")
        }
        let graph = try architecture.makeGraph()
        try graph.load(Safetensors.decode(weights))
        return graph
    }

    static func onnx(_ graph: Graph) throws -> Data {
        throw GraphError(node: graph.name, "ONNX export is not supported by this build")
    }
}
