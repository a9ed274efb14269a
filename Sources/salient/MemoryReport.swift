import CNN
import Foundation

/// One line of `salient bench`'s memory table: what a planned batch-1 inference holds beside
/// the floor any plan has (the largest layer input plus output).
enum MemoryReport {
    static let header = "memory, batch 1, 2 threads (MB)  activations  scratch  largest in+out   ratio"

    static func row(onnx path: String) throws -> String {
        let graph = try ONNXImporter.load(path: path).optimizedForInference()
        let input = Tensor(zeros: [1] + graph.inputShape)
        let executor = Executor(graph: graph)
        _ = try executor.infer(input)
        let memory = try executor.memory(for: input.shape)
        let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let mb = { (bytes: Int) in Double(bytes) / 1_048_576 }
        return name.padded(to: 32) + String(format: " %11.1f %8.1f %15.1f %7.2fx", mb(memory.plannedBytes),
                      mb(memory.workspaceBytes), mb(memory.largestPairBytes),
                      Double(memory.plannedBytes + memory.workspaceBytes) / Double(memory.largestPairBytes))
    }
}
