import CNN
import Foundation
import Service

/// Opens whatever a user points the command line at: an architecture, a checkpoint, a card.
enum ModelFile {
    static func graph(at path: String) throws -> Graph {
        var url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ValidationErrorMessage("no such file: \(path)")
        }
        if url.lastPathComponent == Checkpoint.cardFile { url.deleteLastPathComponent(); isDirectory = true }
        if isDirectory.boolValue {
            // A model folder of the data folder (`data/models/NAME`) holds a folder per version.
            if !FileManager.default.fileExists(atPath: url.appendingPathComponent(Checkpoint.cardFile).path),
               let version = ModelFolder.defaultVersion(of: url) {
                url = version
            }
            let card = try ModelCard(json: Data(contentsOf: url.appendingPathComponent(Checkpoint.cardFile)))
            if let onnxFile = card.onnxFile { return try ONNXImporter.load(contentsOf: url.appendingPathComponent(onnxFile)) }
            return try Checkpoint.load(from: url).graph
        }
        if url.pathExtension.lowercased() == "onnx" { return try ONNXImporter.load(contentsOf: url) }
        return try Architecture(json: Data(contentsOf: url)).makeGraph()
    }
}

struct ValidationErrorMessage: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
