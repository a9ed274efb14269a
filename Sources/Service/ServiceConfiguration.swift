import HTTPServer

/// What an operator configures: where the service listens and keeps its data.
public struct ServiceConfiguration: Sendable {
    public var server = HTTPServerConfiguration()
    public var dataDirectory = "data"
    public var defaultModel = "fashion-cnn"

    public init() {}
}
