import CNN
import HTTPServer
import Imaging

/// The query parameters of a saliency request, validated.
struct SaliencyRequest {
    enum ClassChoice {
        case top
        case index(Int)
        case label(String)
    }

    var method = SaliencyMethod.gradient
    var target = ClassChoice.top
    var reduction = ChannelReduction.maxAbs
    var colormap = Colormap.inferno
    var overlay = true
    var alpha: Float = 0.5
    var asJSON = false

    init(_ request: HTTPServerRequest) throws {
        try self.init(query: request.queryValue)
    }

    /// Reads the parameters through `query`, which answers a parameter's value by name.
    init(query: (String) -> String?) throws {
        if let value = query("method") {
            guard let method = SaliencyMethod(rawValue: value) else {
                throw ServiceError.badParameter("method must be one of \(SaliencyMethod.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            self.method = method
        }
        if let value = query("class"), value != "top" {
            target = Int(value).map(ClassChoice.index) ?? .label(value)
        }
        if let value = query("reduce") {
            guard let reduction = ChannelReduction(rawValue: value) else {
                throw ServiceError.badParameter("reduce must be one of \(ChannelReduction.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            self.reduction = reduction
        }
        if let value = query("colormap") {
            guard let colormap = Colormap(rawValue: value) else {
                throw ServiceError.badParameter("colormap must be one of \(Colormap.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            self.colormap = colormap
        }
        if let value = query("overlay") {
            guard let overlay = Bool(value) else { throw ServiceError.badParameter("overlay must be true or false") }
            self.overlay = overlay
        }
        if let value = query("alpha") {
            guard let alpha = Float(value), (0...1).contains(alpha) else {
                throw ServiceError.badParameter("alpha must be a number from 0 to 1")
            }
            self.alpha = alpha
        }
        if let value = query("format") {
            guard value == "png" || value == "json" else { throw ServiceError.badParameter("format must be png or json") }
            asJSON = value == "json"
        }
    }

    /// The class index to explain, or nil for the top one.
    func classIndex(labels: [String]) throws -> Int? {
        switch target {
        case .top: return nil
        case let .index(i):
            guard i >= 0 && i < labels.count else {
                throw ServiceError.badParameter("class \(i) is out of range: the model has \(labels.count) classes")
            }
            return i
        case let .label(name):
            guard let i = labels.firstIndex(of: name) else {
                throw ServiceError.badParameter("the model has no class labelled '\(name)'")
            }
            return i
        }
    }
}
