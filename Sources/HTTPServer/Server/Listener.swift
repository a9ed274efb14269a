#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// The listening socket and the Dispatch source that accepts from it.
final class Listener: @unchecked Sendable {
    let fd: Int32
    let port: Int
    private let queue = DispatchQueue(label: "http.listener")
    /// Marks the listener queue, so that a pause asked for while accepting takes effect before the next accept.
    private let onListenerQueue = DispatchSpecificKey<Bool>()
    private var source: DispatchSourceRead?
    private var suspended = false
    private var stopped = false

    init(host: String, port: Int, backlog: Int32) throws {
        fd = try Socket.listen(host: host, port: port, backlog: backlog)
        queue.setSpecific(key: onListenerQueue, value: true)
        do {
            self.port = try Socket.localPort(fd)
        } catch {
            _ = Glibc.close(fd)
            throw error
        }
    }

    /// Calls `onAccept` on the listener queue for every accepted socket.
    func start(onAccept: @escaping (Int32, String) -> Void) {
        queue.sync {
            let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
            source.setEventHandler { [unowned self] in acceptPending(onAccept) }
            source.setCancelHandler { [fd] in _ = Glibc.close(fd) }
            self.source = source
            source.resume()
        }
    }

    private func acceptPending(_ onAccept: (Int32, String) -> Void) {
        while !stopped && !suspended {
            guard let (client, peer) = Socket.accept(fd) else {
                switch errno {
                case EINTR, ECONNABORTED:
                    continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors: back off instead of spinning on a readable listener.
                    pauseAccepting(for: 0.1)
                default:
                    break
                }
                return
            }
            onAccept(client, peer)
        }
    }

    /// Leaves new connections in the kernel backlog until `resumeAccepting`. Asked for from
    /// `onAccept` (the connection that reached the limit), it holds at once: queued behind the
    /// accept loop instead, the loop would take one more connection from the backlog only to
    /// refuse it.
    func pauseAccepting() {
        if DispatchQueue.getSpecific(key: onListenerQueue) == true {
            suspendSource()
        } else {
            queue.async { [self] in suspendSource() }
        }
    }

    private func suspendSource() {
        guard !stopped, !suspended, let source else { return }
        source.suspend()
        suspended = true
    }

    func resumeAccepting() {
        queue.async { [self] in
            guard !stopped, suspended, let source else { return }
            source.resume()
            suspended = false
        }
    }

    private func pauseAccepting(for seconds: Double) {
        pauseAccepting()
        queue.asyncAfter(deadline: .now() + seconds) { [self] in resumeAccepting() }
    }

    /// Stops accepting and closes the socket; new clients are refused by the kernel.
    func stop() {
        queue.sync {
            guard !stopped else { return }
            stopped = true
            if let source {
                if suspended { source.resume() }
                source.cancel()
            } else {
                _ = Glibc.close(fd)
            }
        }
    }
}
