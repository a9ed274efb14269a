import ArgumentParser
import Foundation
import Service

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Classify an image offline, as POST /v1/classify does.")

    @Argument(help: "A JPEG or PNG file.") var image: String
    @Option(help: "A registered model (default: the default model).") var model: String?
    @Option(name: .customLong("top-k")) var topK = 5
    @Option(name: .customLong("data-dir"), help: "Where registered models live.") var dataDirectory: String?

    func run() throws {
        var configuration = try ServiceConfiguration.load()
        if let dataDirectory { configuration.dataDirectory = dataDirectory }
        let runner = try OfflineRunner(configuration: configuration)
        let json = try runner.classify(Data(contentsOf: URL(fileURLWithPath: image)), model: model, topK: topK)
        print(String(decoding: json, as: UTF8.self))
    }
}

struct Saliency: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Render a saliency map offline, as POST /v1/models/{name}/saliency does.")

    @Argument(help: "A JPEG or PNG file.") var image: String
    @Option(name: .shortAndLong, help: "Where to write the PNG.") var output: String
    @Option(help: "A registered model (default: the default model).") var model: String?
    @Option(help: "gradient, smoothgrad, integrated_gradients, gradcam or guided_backprop.") var method = "gradient"
    @Option(name: .customLong("class"), help: "top, a class index or a label.") var target = "top"
    @Option(help: "max_abs, mean_abs or rgb.") var reduce = "max_abs"
    @Option(help: "gray, viridis, inferno, magma or jet.") var colormap = "inferno"
    @Option(help: "Blend the map over the image (true or false).") var overlay = "true"
    @Option(name: .customLong("data-dir"), help: "Where registered models live.") var dataDirectory: String?

    func run() throws {
        var configuration = try ServiceConfiguration.load()
        if let dataDirectory { configuration.dataDirectory = dataDirectory }
        let runner = try OfflineRunner(configuration: configuration)
        let (png, json) = try runner.saliency(Data(contentsOf: URL(fileURLWithPath: image)), model: model, parameters: [
            "method": method, "class": target, "reduce": reduce, "colormap": colormap, "overlay": overlay,
        ])
        try Data(png).write(to: URL(fileURLWithPath: output))
        let summary = try JSONSerialization.jsonObject(with: json) as? [String: Any]
        let chosen = summary?["class"] as? [String: Any]
        print("wrote \(output): \(method) map for class \(chosen?["index"] ?? "?") (\(chosen?["label"] ?? "?")), score \(summary?["score"] ?? "?")")
    }
}
