/// Why an ONNX model could not be read or written; names the node (or tensor) at fault.
public struct ONNXError: Error, CustomStringConvertible, Sendable {
    /// The ONNX node, tensor or graph input the problem is in; nil for the file as a whole.
    public let location: String?
    public let reason: String

    public init(_ location: String?, _ reason: String) {
        self.location = location
        self.reason = reason
    }

    public var description: String {
        location.map { "ONNX '\($0)': \(reason)" } ?? "ONNX: \(reason)"
    }
}
