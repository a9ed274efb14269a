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

            // Deterministic methods within 1e-3 of Captum's map in double precision, where that
            // bound is one a float32 engine can meet: where Captum's own float32 map is within it.
            // On ReLU, ReLU6 and max-pool networks a few decisions (of millions) fall within
            // float32 rounding of their threshold, more along an integration path whose points
            // near the baseline differ from it by little; each moves the map by up to a few
            // percent of its largest value (PyTorch's float32 and float64 maps of ResNet-18 differ
            // by 1.5e-2 to 1e-1 at 12 of the 16 points of a Riemann path). There the bound is
            // Pearson correlation with the float64 map at least 0.9999 (0.99994 at worst measured);
            // the rules' scale is held to 1e-3 on EfficientNet-B0, whose SiLUs have no thresholds.
            func compare(_ ours: Tensor, _ file: String, _ title: String) throws {
                let exact = try reference(file + "_float64.pb")
                let error = relativeError(ours, exact)
                let single = relativeError(ours, try reference(file + ".pb"))
                let captum = relativeError(try reference(file + ".pb"), exact)
                let conditioned = captum <= 1e-3
                let correlation = pearson(ours.scalars, exact.scalars)
                print("parity \(name) \(title): max relative difference \(error) to Captum float64 (\(single) to its float32 map, "
                    + "which is \(captum) from float64\(conditioned ? "" : ": ill-conditioned"); Pearson \(correlation))")
                if conditioned {
                    XCTAssertLessThanOrEqual(error, 1e-3, "\(name) \(title)")
                } else {
                    XCTAssertGreaterThanOrEqual(correlation, 0.9999, "\(name) \(title) (ill-conditioned)")
                }
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
            func reduced(_ map: Tensor) -> [Float] { ChannelReduction.maxAbs.apply(map).scalars }
            let correlation = pearson(reduced(ours.attribution), reduced(theirs))
            // Two 50-sample means of different noise agree only so far: Captum against itself
            // with another seed is the ceiling (0.93 on ResNet-18), below the issue's 0.95.
            let ceiling = pearson(reduced(theirs), reduced(try reference("smoothgrad_repeat.pb")))
            print("parity \(name) smoothgrad \(options.steps!) samples: Pearson correlation \(correlation) "
                + "(Captum against itself with other noise: \(ceiling))")
            XCTAssertGreaterThanOrEqual(correlation, min(0.95, ceiling - 0.01), "\(name) smoothgrad")
        }
    }
}
