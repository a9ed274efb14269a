/// One node's computation: shape inference, forward, and backward.
///
/// Forward reads input views and writes all of an output view the caller has shaped, so that
/// planned inference runs in buffers it allocated once (and can place an output inside a larger
/// buffer: a convolution's, straight into the Concat that reads it). Backward returns one
/// gradient per input (nil where an input needs none, such as a constant) and accumulates
/// parameter gradients only when asked, so that saliency on a shared model never writes to it.
public protocol Operator: AnyObject {
    /// The layer type as the JSON architecture format names it, e.g. "conv2d".
    var kind: String { get }
    var parameters: [Parameter] { get }
    /// Non-trainable state that is saved with the weights (BatchNorm running statistics).
    var buffers: [Parameter] { get }

    func outputShape(for inputShapes: [[Int]]) throws -> [Int]
    func forward(_ inputs: [TensorView], into output: TensorView, context: ForwardContext)
    func backward(_ inputs: [Tensor], output: Tensor, outputGradient: Tensor,
                  context: BackwardContext) -> [Tensor?]
}

extension Operator {
    public var parameters: [Parameter] { [] }
    public var buffers: [Parameter] { [] }

    /// Forward over tensors: views of their arrays.
    public func forward(_ inputs: [Tensor], into output: inout Tensor, context: ForwardContext) {
        withViews(of: inputs) { views in
            output.withView { forward(views, into: $0, context: context) }
        }
    }
}

/// What forward needs beyond its inputs.
public final class ForwardContext {
    public let isTraining: Bool
    /// Whether a backward pass may follow, so that operators keep what it needs (false for
    /// planned inference).
    public let keepsForBackward: Bool
    /// Per-node state that backward needs and cannot recompute (Dropout's mask, the argument of
    /// a fused activation whose output does not give its derivative).
    public var saved: [ObjectIdentifier: Any] = [:]
    public var random: RandomSource
    public let workspace = Workspace()

    public init(isTraining: Bool, keepsForBackward: Bool = true, random: RandomSource = RandomSource(seed: 0)) {
        self.isTraining = isTraining
        self.keepsForBackward = keepsForBackward
        self.random = random
    }
}

/// How backward propagates: plain gradients, or the guided rule of guided backpropagation.
public enum GradientRule: Sendable {
    case standard
    /// Springenberg et al.: ReLUs pass only positive gradients at positive inputs.
    case guided
}

public final class BackwardContext {
    public let computesParameterGradients: Bool
    public let rule: GradientRule
    /// False when no input of the node being backpropagated needs a gradient (the first
    /// layer in training): the operator may skip them and return nil, and only accumulate
    /// its parameter gradients.
    public internal(set) var needsInputGradients = true
    let forward: ForwardContext
    var workspace: Workspace { forward.workspace }

    public init(forward: ForwardContext, computesParameterGradients: Bool, rule: GradientRule = .standard) {
        self.forward = forward
        self.computesParameterGradients = computesParameterGradients
        self.rule = rule
    }

    func saved<T>(for op: AnyObject, as type: T.Type) -> T? {
        forward.saved[ObjectIdentifier(op)] as? T
    }
}

/// Errors found while building or shaping a graph; they name the node and the reason.
public struct GraphError: Error, CustomStringConvertible, Sendable {
    public let node: String
    public let reason: String

    public init(node: String, _ reason: String) {
        self.node = node
        self.reason = reason
    }

    public var description: String { "node '\(node)': \(reason)" }
}

/// Thrown by `outputShape(for:)`; the graph adds the node's name.
public struct ShapeError: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
