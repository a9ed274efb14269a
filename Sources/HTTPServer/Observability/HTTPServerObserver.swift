/// Receives every answered request; the service implements it to keep metrics.
public protocol HTTPServerObserver: AnyObject, Sendable {
    func requestCompleted(_ record: HTTPAccessRecord)
    func connectionOpened()
    func connectionClosed()
}

extension HTTPServerObserver {
    public func connectionOpened() {}
    public func connectionClosed() {}
}
