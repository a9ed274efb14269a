import CNN
import Foundation
import XCTest

/// The ONNX backend conformance tests Debian ships (libonnx-testdata): every test whose
/// operators the importer supports must reproduce the reference outputs.
final class ONNXBackendNodeTests: XCTestCase {
    /// Tests built only from supported operators that are deliberately not run, with the reason.
    static let exclusions: [String: String] = [
        "test_identity_opt": "optional-typed input: the engine has tensors only",
        "test_identity_sequence": "sequence-typed input: the engine has tensors only",
        "test_constant": "the graph has no runtime input",
        "test_reshape_allowzero_reordered": "zero-size tensor with allowzero",
        "test_split_zero_size_splits": "zero-size outputs",
        "test_maxpool_with_argmax_2d_precomputed_pads": "MaxPool's Indices output (int64 argmax) is not produced",
        "test_maxpool_with_argmax_2d_precomputed_strides": "MaxPool's Indices output (int64 argmax) is not produced",
        "test_batchnorm_epsilon_training_mode": "training-mode BatchNormalization outputs running statistics",
        "test_batchnorm_example_training_mode": "training-mode BatchNormalization outputs running statistics",
        "test_training_dropout": "training-mode dropout is random",
        "test_training_dropout_default": "training-mode dropout is random",
        "test_training_dropout_mask": "training-mode dropout is random",
        "test_training_dropout_default_mask": "training-mode dropout is random",
        "test_averagepool_3d_default": "3-D pooling: the engine's windows are 2-D",
        "test_maxpool_3d_default": "3-D pooling: the engine's windows are 2-D",
        "test_AvgPool3d": "3-D pooling: the engine's windows are 2-D",
        "test_AvgPool3d_stride": "3-D pooling: the engine's windows are 2-D",
        "test_AvgPool3d_stride1_pad0_gpu_input": "3-D pooling: the engine's windows are 2-D",
        "test_MaxPool3d": "3-D pooling: the engine's windows are 2-D",
        "test_MaxPool3d_stride": "3-D pooling: the engine's windows are 2-D",
        "test_MaxPool3d_stride_padding": "3-D pooling: the engine's windows are 2-D",
        "test_Conv3d": "3-D convolution: the engine's windows are 2-D",
        "test_Conv3d_dilated": "3-D convolution: the engine's windows are 2-D",
        "test_Conv3d_dilated_strided": "3-D convolution: the engine's windows are 2-D",
        "test_Conv3d_groups": "3-D convolution: the engine's windows are 2-D",
        "test_Conv3d_no_bias": "3-D convolution: the engine's windows are 2-D",
        "test_Conv3d_stride": "3-D convolution: the engine's windows are 2-D",
        "test_Conv3d_stride_padding": "3-D convolution: the engine's windows are 2-D",
        "test_cast_FLOAT_to_BFLOAT16": "bfloat16 output: the engine computes in Float32",
        "test_castlike_FLOAT_to_BFLOAT16_expanded": "bfloat16 output: the engine computes in Float32",
        "test_cast_FLOAT_to_STRING": "string output: the engine has numbers only",
        "test_castlike_FLOAT_to_STRING_expanded": "string output: the engine has numbers only",
    ]

    struct Outcome {
        var ran = 0, passed = 0, notApplicable = 0
        var excluded: [String] = []
        var failures: [String] = []
    }

    func testNodeTests() throws {
        let outcome = try run(suite: "node", leadingAxisIsBatch: false)
        XCTAssertGreaterThan(outcome.ran, 150)
    }

    func testPyTorchConvertedTests() throws {
        let outcome = try run(suite: "pytorch-converted", leadingAxisIsBatch: true)
        XCTAssertGreaterThan(outcome.ran, 30)
    }

    func testPyTorchOperatorTests() throws {
        let outcome = try run(suite: "pytorch-operator", leadingAxisIsBatch: true)
        XCTAssertGreaterThan(outcome.ran, 10)
    }

    func testSimpleModelTests() throws {
        let outcome = try run(suite: "simple", leadingAxisIsBatch: true)
        XCTAssertGreaterThan(outcome.ran, 0)
    }

    private func run(suite: String, leadingAxisIsBatch: Bool) throws -> Outcome {
        let root = ONNXTestData.backend.appendingPathComponent(suite)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else {
            throw XCTSkip("\(root.path) not found (Debian package libonnx-testdata)")
        }
        var outcome = Outcome()
        for name in names.sorted() {
            let dir = root.appendingPathComponent(name)
            guard let data = try? Data(contentsOf: dir.appendingPathComponent("model.onnx")) else { continue }
            let info = try ONNXImporter.info(data: data)
            guard Set(info.operatorTypes).isSubset(of: ONNXImporter.supportedOperators) else {
                outcome.notApplicable += 1
                continue
            }
            // The engine computes in Float32; integer graphs (uint8 wrap-around, shape-only
            // graphs whose one input is an int64 shape) are outside its contract.
            if let type = info.inputElementTypes.first, !["float", "float16", "double"].contains(type) {
                outcome.excluded.append("\(name): the runtime input is \(type) data; the engine computes in Float32")
                continue
            }
            if let reason = Self.exclusions[name] {
                outcome.excluded.append("\(name): \(reason)")
                continue
            }
            outcome.ran += 1
            do {
                try check(dir, data: data, info: info, leadingAxisIsBatch: leadingAxisIsBatch)
                outcome.passed += 1
            } catch {
                outcome.failures.append("\(name): \(error)")
            }
        }
        print("ONNX backend \(suite): \(outcome.ran) ran, \(outcome.passed) passed, \(outcome.excluded.count) excluded, \(outcome.notApplicable) use other operators")
        for line in outcome.excluded { print("  excluded \(line)") }
        for line in outcome.failures { print("  FAILED \(line)") }
        XCTAssertEqual(outcome.failures, [], "\(suite) failures")
        return outcome
    }

    struct Mismatch: Error, CustomStringConvertible {
        let description: String
    }

    private func check(_ dir: URL, data: Data, info: ONNXModelInfo, leadingAxisIsBatch: Bool) throws {
        let sets = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("test_data_set_") }.sorted()
        for set in sets {
            let setDir = dir.appendingPathComponent(set)
            let inputs = try info.inputs.indices.map { try ONNXTensor(contentsOf: setDir.appendingPathComponent("input_\($0).pb")) }
            guard let primary = inputs.first else { throw Mismatch(description: "no runtime input") }
            var constants: [String: ONNXTensor] = [:]
            for (name, tensor) in zip(info.inputs, inputs).dropFirst() { constants[name] = tensor }
            for (index, output) in info.outputs.enumerated() {
                let expected = try ONNXTensor(contentsOf: setDir.appendingPathComponent("output_\(index).pb"))
                // Boolean outputs (Dropout's mask) are not engine tensors.
                if info.outputElementTypes[index] == "bool" { continue }
                // With further inputs folded in as constants, the batch size cannot stay free.
                let batchIsFree = leadingAxisIsBatch && constants.isEmpty
                let options = ONNXImportOptions(inputName: info.inputs[0], outputName: output, constantInputs: constants,
                                                leadingAxisIsBatch: batchIsFree)
                let graph = try ONNXImporter.load(data: data, options: options)
                var x = primary.tensor
                if !batchIsFree { x = x.reshaped(to: [1] + x.shape) }
                let y = try Executor(graph: graph).infer(x)
                let want = expected.tensor
                guard y.shape == want.shape else {
                    throw Mismatch(description: "output \(output): shape \(y.shape), expected \(want.shape)")
                }
                if let bad = mismatch(y, want, rtol: 1e-3, atol: 1e-7) {
                    throw Mismatch(description: "output \(output)[\(bad)] = \(y.scalars[bad]), expected \(want.scalars[bad])")
                }
            }
        }
    }
}
