import CNN
import Foundation
import XCTest

/// Every saliency method against Captum's on torchvision architectures, each graph served as
/// the service serves it (cut at the scores, BatchNorm folded, activations fused). Opt-in:
/// `make test-parity` writes the references with scripts/captum_parity.py into
/// .build/captum-parity and points SALIENT_CAPTUM_PARITY there.
final class CaptumParityTests: XCTestCase {
    /// Largest difference relative to the reference's largest magnitude.
    private func relativeError(_ ours: Tensor, _ reference: Tensor) -> Float {
        let scale = reference.scalars.map(abs).max() ?? 0
        return zip(ours.scalars, reference.scalars).map { abs($0 - $1) }.max()! / max(scale, 1e-30)
    }

    private func pearson(_ a: [Float], _ b: [Float]) -> Double {
        let n = Double(a.count)
        let (ma, mb) = (a.reduce(0) { $0 + Double($1) } / n, b.reduce(0) { $0 + Double($1) } / n)
        var (sab, saa, sbb) = (0.0, 0.0, 0.0)
        for (x, y) in zip(a, b) {
            let (dx, dy) = (Double(x) - ma, Double(y) - mb)
            sab += dx * dy; saa += dx * dx; sbb += dy * dy
        }
        return sab / (saa * sbb).squareRoot()
    }

    func testEveryMethodMatchesCaptum() throws {
        guard let root = ProcessInfo.processInfo.environment["SALIENT_CAPTUM_PARITY"] else {
            throw XCTSkip("set SALIENT_CAPTUM_PARITY to the references' folder (make test-parity)")
        }
        let folder = URL(fileURLWithPath: root)
        let models = try FileManager.default.contentsOfDirectory(atPath: root).sorted().filter {
            FileManager.default.fileExists(atPath: folder.appendingPathComponent("\($0)/meta.json").path)
        }
        XCTAssertFalse(models.isEmpty, "no references in \(root)")
        for name in models {
            let dir = folder.appendingPathComponent(name)
            func reference(_ file: String) throws -> Tensor { try ONNXTensor(contentsOf: dir.appendingPathComponent(file)).tensor }
            let meta = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("meta.json")))
                as? [String: Any])
            let top = try XCTUnwrap(meta["top"] as? Int)
            let loaded = try ONNXImporter.load(path: dir.appendingPathComponent("model.onnx").path)
            let scoreNode = SaliencyComputer(executor: Executor(graph: loaded)).scoreNode
            let graph = try Graph(name: loaded.name, inputName: loaded.inputName, inputShape: loaded.inputShape,
                                  nodes: loaded.nodes, outputName: scoreNode).optimizedForInference()
            let computer = SaliencyComputer(executor: Executor(graph: graph))
            let input = try reference("input.pb")
            let (mean, std) = (try XCTUnwrap(meta["mean"] as? [Double]), try XCTUnwrap(meta["std"] as? [Double]))
            let plane = input.shape[2] * input.shape[3]
            let black = Tensor(shape: input.shape, scalars: (0..<input.count).map { Float((0 - mean[$0 / plane]) / std[$0 / plane]) })

            // Deterministic methods within 1e-3 of Captum's map in double precision (float32
            // rounding alone moves a map by up to 3e-3 at a ReLU or max-pool tie); the distance to
            // Captum's float32 map is printed beside it.
            func compare(_ ours: Tensor, _ file: String, _ title: String) throws {
                let error = relativeError(ours, try reference(file + "_float64.pb"))
                let single = relativeError(ours, try reference(file + ".pb"))
                let captum = relativeError(try reference(file + ".pb"), try reference(file + "_float64.pb"))
                print("parity \(name) \(title): max relative difference \(error) to Captum float64 (\(single) to its float32 map, "
                    + "which is \(captum) from float64)")
                XCTAssertLessThanOrEqual(error, 1e-3, "\(name) \(title)")
            }
            for (method, file) in [(SaliencyMethod.gradient, "gradient"), (.guidedBackprop, "guided_backprop"), (.gradcam, "gradcam")] {
                try compare(try computer.compute(method, input: input, targetClass: top).attribution, file, method.rawValue)
            }
            for case let item as [String: Any] in try XCTUnwrap(meta["integrated_gradients"] as? [Any]) {
                var options = SaliencyOptions()
                options.integration = try XCTUnwrap(IntegrationRule(rawValue: item["method"] as! String))
                options.baseline = try XCTUnwrap(SaliencyBaseline(rawValue: item["baseline"] as! String))
                options.steps = item["steps"] as? Int
                options.blackInput = black
                let ours = try computer.compute(.integratedGradients, input: input, targetClass: top, options: options)
                try compare(ours.attribution, "ig_\(options.integration.rawValue)_\(options.baseline.rawValue)",
                            "integrated_gradients \(options.integration.rawValue) \(options.baseline.rawValue) steps \(options.steps!) "
                            + "(batch \(ours.batchSize!))")
            }
            let smooth = try XCTUnwrap(meta["smoothgrad"] as? [String: Any])
            var options = SaliencyOptions()
            options.steps = smooth["samples"] as? Int
            options.sigma = Float(try XCTUnwrap(smooth["sigma"] as? Double))
            let ours = try computer.compute(.smoothgrad, input: input, targetClass: top, options: options)
            let theirs = try reference("smoothgrad.pb")
            let correlation = pearson(ChannelReduction.maxAbs.apply(ours.attribution).scalars,
                                      ChannelReduction.maxAbs.apply(theirs).scalars)
            print("parity \(name) smoothgrad \(options.steps!) samples: Pearson correlation \(correlation)")
            XCTAssertGreaterThanOrEqual(correlation, 0.95, "\(name) smoothgrad")
        }
    }
}
