/// Receives every answered request; the service implements it to keep metrics.
public protocol HTTPServerObserver: AnyObject, Sendable {
    func requestCompleted(_ record: HTTPAccessRecord)
    func connectionOpened()
    func connectionClosed()
    /// A request was answered 503 without being handled: its `queue` class was full
    /// (`reason` "queue_full") or the bytes of bodies in memory were at their limit ("body_budget").
    func requestShed(queue: String, reason: String)
}

extension HTTPServerObserver {
    public func connectionOpened() {}
    public func connectionClosed() {}
    public func requestShed(queue: String, reason: String) {}
}
