/// Limits and socket options of a server; every default follows the project's documented limits.
public struct HTTPServerConfiguration: Sendable {
    public var host: String = "0.0.0.0"
    public var port: Int = 8080
    public var backlog: Int32 = 512
    public var maxRequestLineBytes = 8 * 1024
    public var maxHeaderBytes = 16 * 1024
    public var maxHeaderFields = 100
    public var maxBodyBytes = 64 * 1024 * 1024
    public var headerReadTimeout: Double = 10
    public var idleTimeout: Double = 60
    public var maxConnections = 1024

    public init() {}
}
