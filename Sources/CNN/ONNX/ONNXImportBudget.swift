import Foundation

/// What one import may spend computing constant subgraphs at load time (folding), how many nodes
/// it may bring, and for how long it may run: a file of a few kilobytes can ask for a
/// ConstantOfShape of 2^28 elements or a convolution over constant tensors that takes minutes,
/// and one of a few megabytes holds hundreds of thousands of nodes, each a step of every pass
/// over the graph. Work is counted before it is done, so a refusal costs nothing.
public struct ONNXImportBudget: Sendable {
    public enum Limit: Sendable, Hashable {
        /// Folding work: one unit per element produced plus one per multiply-accumulate.
        case work
        /// Bytes of constants computed at load time (ConstantOfShape outputs included).
        case constantBytes
        /// Wall-clock seconds of the whole import.
        case seconds
        /// Nodes in the file's graph.
        case nodes
    }

    public var maxWork: Int
    public var maxConstantBytes: Int
    public var maxSeconds: Double
    public var maxNodes: Int
    /// What each limit is called where it is set (a configuration key), for the refusal.
    public var settingNames: [Limit: String]

    /// Generous enough for every model-zoo graph that makes its weights at load time (VGG-19's
    /// 144 million), so only callers that face untrusted files need to tighten it.
    public init(maxWork: Int = 1 << 34, maxConstantBytes: Int = 4 << 30, maxSeconds: Double = 600,
                maxNodes: Int = 1_000_000, settingNames: [Limit: String] = [:]) {
        self.maxWork = maxWork
        self.maxConstantBytes = maxConstantBytes
        self.maxSeconds = maxSeconds
        self.maxNodes = maxNodes
        self.settingNames = settingNames
    }
}

/// An import stopped by its `ONNXImportBudget`.
public struct ONNXBudgetError: Error, CustomStringConvertible, Sendable {
    public let limit: ONNXImportBudget.Limit
    /// The ONNX node being imported.
    public let location: String?
    public let reason: String

    public var description: String {
        location.map { "ONNX '\($0)': \(reason)" } ?? "ONNX: \(reason)"
    }
}

/// One import's spending against its budget.
final class ONNXImportMeter {
    let budget: ONNXImportBudget
    private let started = DispatchTime.now()
    private(set) var work = 0
    private(set) var constantBytes = 0

    init(budget: ONNXImportBudget) {
        self.budget = budget
    }

    /// Charges a constant about to be computed: its bytes (4 per element, as the engine holds
    /// them) and `work` units; refuses before anything is allocated.
    func charge(elements: Int, work extra: Int, at location: String) throws {
        try checkTime(at: location)
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: 4)
        constantBytes = overflow ? Int.max : constantBytes.addingReportingOverflow(bytes).partialValue
        guard !overflow, constantBytes <= budget.maxConstantBytes else {
            throw refusal(.constantBytes, at: location, "constants computed at load time would take more than "
                + "\(budget.maxConstantBytes) bytes (this one has \(elements) elements)")
        }
        work = work.addingReportingOverflow(elements).partialValue.addingReportingOverflow(extra).partialValue
        guard work >= 0, work <= budget.maxWork else {
            throw refusal(.work, at: location, "folding constant subgraphs would take more than \(budget.maxWork) operations")
        }
    }

    /// Refuses a graph of more nodes than the budget's before any is read.
    func checkNodes(_ count: Int) throws {
        guard count <= budget.maxNodes else {
            throw refusal(.nodes, at: nil, "the graph has \(count) nodes, more than \(budget.maxNodes)")
        }
    }

    func checkTime(at location: String) throws {
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        guard seconds <= budget.maxSeconds else {
            throw refusal(.seconds, at: location, "the import took longer than \(budget.maxSeconds) seconds")
        }
    }

    private func refusal(_ limit: ONNXImportBudget.Limit, at location: String?, _ reason: String) -> ONNXBudgetError {
        let named = budget.settingNames[limit].map { " (setting \($0))" } ?? ""
        return ONNXBudgetError(limit: limit, location: location, reason: reason + named)
    }
}

extension Operator {
    /// Multiply-accumulates (or comparisons) per output element beyond the element itself,
    /// for the operators whose cost is not linear in their output.
    func foldingWork(inputShapes: [[Int]], outputElements: Int) -> Int {
        let perOutput: Int
        switch self {
        case let conv as Conv2D: perOutput = (conv.inChannels / max(conv.groups, 1)) * conv.kernel.h * conv.kernel.w
        case let dense as Dense: perOutput = dense.inFeatures
        case is MatMul: perOutput = inputShapes.first?.last ?? 1
        case let pool as MaxPool2D: perOutput = pool.kernel.h * pool.kernel.w
        case let pool as AvgPool2D: perOutput = pool.kernel.h * pool.kernel.w
        case let lrn as LRN: perOutput = lrn.size
        default: perOutput = 0
        }
        let inputs = inputShapes.reduce(0) { $0 + $1.reduce(1, *) }
        return outputElements.multipliedReportingOverflow(by: perOutput).partialValue + inputs
    }
}
