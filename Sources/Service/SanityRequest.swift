import CNN
import HTTPServer

/// The query parameters of a sanity check (`POST /v1/models/{name}/saliency/sanity`), validated:
/// the methods, how many layers to randomize from the top, and the saliency parameters of the
/// maps (class, steps, sigma, ig_method, baseline, layer), as the saliency route reads them.
struct SanityRequest {
    var methods = SaliencyMethod.allCases
    /// The top layers to randomize; nil is all of them.
    var depth: Int?
    var maps: SaliencyRequest

    init(_ request: HTTPServerRequest, budgets: ResourceBudgets) throws {
        try self.init(budgets: budgets, query: request.queryValue)
    }

    init(budgets: ResourceBudgets, query: (String) -> String?) throws {
        maps = try SaliencyRequest(budgets: budgets) { $0 == "format" ? "json" : query($0) }
        if let value = query("methods") {
            let names = value.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            methods = try names.map { name in
                guard let method = SaliencyMethod(rawValue: name) else {
                    throw ServiceError.badParameter("methods must list some of \(SaliencyMethod.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return method
            }
            guard Set(methods).count == methods.count else { throw ServiceError.badParameter("methods lists a method twice") }
        }
        if let value = query("layers") {
            guard let depth = Int(value), depth >= 1 else { throw ServiceError.badParameter("layers must be a whole number from 1") }
            self.depth = depth
        }
    }

    /// Forward and backward passes of a check over `layers` randomized layers: every method's
    /// map on the trained model and after each layer, a sampling method's map counting its steps.
    func passes(layers: Int) -> Int {
        let perRound = methods.reduce(0) { total, method in
            total + (method.defaultSteps == nil ? 1 : maps.steps ?? method.defaultSteps!)
        }
        return perRound * (layers + 1)
    }
}
