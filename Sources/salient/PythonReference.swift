import Foundation

/// A Python script that prints one JSON object: how the bench asks a reference
/// implementation (onnxruntime, PyTorch) for its figure.
struct PythonReference {
    /// The interpreter of the virtual environment that has the reference installed.
    let python: String
    let script: String

    var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: python) }

    /// The script's JSON answer, or nil when the interpreter is missing or the script fails.
    func answer(_ arguments: [String]) -> [String: Any]? {
        guard isInstalled else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }

    /// PyTorch, torchvision and Captum, in the venv `make bench-venv` creates.
    static func torch(python: String) -> PythonReference {
        PythonReference(python: python, script: "scripts/torch_bench.py")
    }

    static let torchInstallHint = "PyTorch is not installed: `make bench-venv` creates .venv-torch with torch 2.5.1, "
        + "torchvision 0.20.1, captum and onnx from PyPI (about 5 GB)."
}
