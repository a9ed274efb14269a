/// One answered request, as the access log and metrics see it.
public struct HTTPAccessRecord: Sendable {
    public var method: String
    /// The request path, without the query.
    public var path: String
    /// The matched route pattern, a low-cardinality label for metrics; nil when no route matched.
    public var route: String?
    public var status: Int
    /// Body bytes sent, after compression.
    public var bodyBytes: Int
    public var duration: Double
    public var remoteAddress: String

    public init(method: String, path: String, route: String?, status: Int, bodyBytes: Int, duration: Double,
                remoteAddress: String) {
        self.method = method
        self.path = path
        self.route = route
        self.status = status
        self.bodyBytes = bodyBytes
        self.duration = duration
        self.remoteAddress = remoteAddress
    }
}
