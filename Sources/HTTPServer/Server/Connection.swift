#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation
import HTTPTypes
import Logging

/// One client connection: reads and parses requests, hands them to the handler
/// pool one at a time, and writes the responses in request order.
///
/// Everything mutable is touched only on `queue`, a serial queue per connection;
/// handlers and stream producers reach it through `queue.async`.
final class Connection: @unchecked Sendable {
    /// A request ready to be answered, or a refusal to send in its place.
    private enum Pending {
        case request(Incoming)
        case refusal(HTTPError, Incoming?)
    }

    /// A request from its head until it is answered.
    private struct Incoming: Sendable {
        var request: HTTPServerRequest
        var match: Router.Match
        var context: ResponseWriter.Context
        var startedAt: DispatchTime
        /// The body's share of the server's `BodyBudget`, reserved as its bytes arrive and held
        /// until the handler is done. Only what arrived is reserved, so that a client announcing
        /// large bodies it never sends cannot hold the budget from everyone else.
        var reservation: BodyReservation
    }

    /// The response being written.
    private struct Outgoing {
        var method: String
        var path: String
        var route: String?
        var status: Int
        var startedAt: DispatchTime
        var bodyBytes: Int
        var keepAlive: Bool
        var framing: ResponseWriter.Framing
        /// The Content-Length promised for a streamed body.
        var declaredLength: Int?
        var streamID: Int?
        var stream: ResponseBodyWriter?
        /// Stream bytes in `output` that the writer has not yet been told were sent.
        var unacknowledgedBytes = 0
        /// True once every byte of the response is in `output`.
        var fullyQueued: Bool
    }

    private static let readChunkBytes = 64 * 1024
    /// Bytes read per wake-up before yielding the queue to other work.
    private static let readBudgetBytes = 1024 * 1024
    private static let lingerSeconds = 2.0

    let id: Int
    private let transport: Transport
    private let context: ConnectionContext
    private let queue: DispatchQueue
    private let remoteAddress: String
    private let onClose: @Sendable (Connection) -> Void
    private var parser: HTTPRequestParser
    private var readSource: DispatchSourceRead?
    private var readSuspended = false
    private var writeSource: DispatchSourceWrite?
    private var writeSuspended = true
    private let timer: DispatchSourceTimer
    private var deadline: DispatchTime?
    private var timerFiresAt: DispatchTime?
    private var output = Data()
    private var outputOffset = 0
    private var pending: [Pending] = []
    private var incoming: Incoming?
    private var outgoing: Outgoing?
    /// A handler is running or a response is being written.
    private var busy = false
    /// Parsing stopped for good: a request was refused.
    private var stopReading = false
    private var peerClosed = false
    private var draining = false
    private var lingering = false
    private var closed = false
    private var requestsServed = 0
    private var nextStreamID = 0
    private var headStartedAt: DispatchTime?
    private var lastActivity = DispatchTime.now()

    init(id: Int, transport: Transport, remoteAddress: String, context: ConnectionContext,
         onClose: @escaping @Sendable (Connection) -> Void) {
        self.id = id
        self.transport = transport
        self.remoteAddress = remoteAddress
        self.context = context
        self.onClose = onClose
        self.parser = HTTPRequestParser(limits: context.configuration.parserLimits)
        self.queue = DispatchQueue(label: "http.connection.\(id)", target: context.ioQueues[id % context.ioQueues.count])
        self.timer = DispatchSource.makeTimerSource(queue: queue)
    }

    func start() {
        queue.async { [self] in
            guard !closed else { return }
            let source = DispatchSource.makeReadSource(fileDescriptor: transport.fd, queue: queue)
            source.setEventHandler { [unowned self] in onReadable() }
            source.setCancelHandler { [self] in sourceCancelled() }
            readSource = source
            source.resume()
            timer.setEventHandler { [unowned self] in onTimer() }
            timer.resume()
            updateTimer()
        }
    }

    /// Stops taking new requests: an idle connection closes now, a busy one after
    /// its current response.
    func drain() {
        queue.async { [self] in
            draining = true
            if !busy && pending.isEmpty && !parser.isMidRequest { return close() }
            // A stream may never end by itself; end it cleanly so the client sees a complete body.
            if let stream = outgoing?.stream, let streamID = outgoing?.streamID {
                DispatchQueue.global().async { stream.connectionClosed() }
                streamFinish(streamID: streamID)
            }
        }
    }

    func forceClose() {
        queue.async { [self] in close() }
    }

    // MARK: Reading

    private func onReadable() {
        guard !closed else { return }
        var total = 0
        readLoop: while total < Self.readBudgetBytes {
            let result = withUnsafeTemporaryAllocation(byteCount: Self.readChunkBytes, alignment: 16) { buffer -> IOResult in
                let result = transport.read(into: buffer)
                if case .transferred(let count) = result, !lingering {
                    parser.append(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                }
                return result
            }
            switch result {
            case .transferred(let count):
                total += count
            case .wouldBlock:
                break readLoop
            case .closed:
                peerClosed = true
                break readLoop
            case .failed:
                close()
                return
            }
        }
        if lingering {
            if peerClosed { close() }
            return
        }
        if total > 0 { lastActivity = .now() }
        parseInput()
        if peerClosed {
            peerDidClose()
        } else if total >= Self.readBudgetBytes && !readSuspended {
            // TLS may hold decrypted bytes that no socket event will announce.
            queue.async { [self] in onReadable() }
        }
        updateTimer()
    }

    private func parseInput() {
        while !closed && !stopReading {
            // Requests parsed ahead are held in memory, so both their number and
            // their bodies are bounded before more is read.
            let queuedBodyBytes = pending.reduce(0) { total, item in
                if case .request(let request) = item { return total + request.request.body.count }
                return total
            }
            if pending.count >= context.configuration.maxPipelinedRequests
                || (!pending.isEmpty && queuedBodyBytes >= context.configuration.maxBodyBytes) {
                suspendReading()
                break
            }
            let event: HTTPRequestParser.Event?
            do {
                event = try parser.next()
            } catch HTTPParseError.bodyTooLarge {
                refuse(bodyTooLarge())
                break
            } catch {
                refuse(HTTPError((error as? HTTPParseError) ?? .malformedRequestLine))
                break
            }
            guard let event else { break }
            switch event {
            case .head(let head):
                headStartedAt = nil
                beginRequest(head)
            case .body(let bytes):
                if let incoming, !incoming.reservation.grow(by: bytes.count) {
                    refuse(context.bodyBudgetFull(incoming.match.queue))
                    break
                }
                incoming?.request.body.append(contentsOf: bytes)
            case .end:
                if let request = incoming { pending.append(.request(request)) }
                incoming = nil
            }
        }
        if parser.isReadingHead && headStartedAt == nil && !stopReading { headStartedAt = .now() }
        startNext()
    }

    private func beginRequest(_ head: HTTPRequestHead) {
        let configuration = context.configuration
        let head1: HTTPRequest, target: RequestTarget
        do {
            (head1, target) = try head.request(isSecure: context.isSecure)
        } catch {
            return refuse(HTTPError((error as? HTTPParseError) ?? .malformedRequestLine))
        }
        let method = head1.method, path = target.path, query = target.query
        let match = path == "*" ? Router.Match.notFound : context.router.match(method: method, path: path)
        var parameters: [String: String] = [:]
        var route: String?
        var bodyLimit = configuration.maxBodyBytes
        if case .found(let found) = match {
            parameters = found.parameters
            route = found.pattern
            bodyLimit = found.bodyLimit ?? bodyLimit
        }
        parser.bodyLimit = bodyLimit
        let responseContext = ResponseWriter.Context(isHead: method == .head, minorVersion: head.minorVersion,
                                                     keepAlive: head.keepAlive,
                                                     acceptsGzip: Gzip.isAccepted(by: head1.headerFields[.acceptEncoding]))
        let request = HTTPServerRequest(head: head1, path: path, query: query, pathParameters: parameters,
                                        route: route, remoteAddress: remoteAddress)
        incoming = Incoming(request: request, match: match, context: responseContext, startedAt: .now(),
                            reservation: BodyReservation(budget: context.bodyBudget))
        // Decided on the head alone: a refused request's body is never read, nor invited by a 100 Continue.
        if let refusal = context.admissionRefusal(request, target: target, match: match) { return refuse(refusal) }
        if case .length(let length) = head.framing {
            // Beyond the limit the parser refuses it next.
            guard length <= bodyLimit else { return }
            // A body that cannot fit now is refused before it is read or invited.
            guard context.bodyBudget.hasRoom(for: length) else { return refuse(context.bodyBudgetFull(match.queue)) }
            // Capped: a client may announce a large body and never send it.
            incoming!.request.body.reserveCapacity(min(length, 1024 * 1024))
        }
        // A 100 Continue cannot overtake responses still owed to earlier requests;
        // the client then sends the body after its own timeout, as RFC 9110 allows.
        if head.expectsContinue && head.framing != .none && !busy && pending.isEmpty {
            output.append(contentsOf: Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
            flush()
        }
    }

    /// The 413 for a body beyond its route's limit, naming the limit and the setting that sets it.
    private func bodyTooLarge() -> HTTPError {
        let configuration = context.configuration
        var limit = configuration.maxBodyBytes, setting = configuration.maxBodyBytesSetting
        if case .found(let found)? = incoming?.match, let routeLimit = found.bodyLimit {
            limit = routeLimit
            setting = found.bodyLimitSetting ?? "this route's body limit"
        }
        return HTTPError(.contentTooLarge, code: HTTPParseError.bodyTooLarge.code,
                         message: "The request body is larger than the \(limit) bytes this route takes (\(setting)).")
    }

    /// Queues a refusal after the responses already owed, and stops parsing: the
    /// framing of whatever follows can no longer be trusted.
    private func refuse(_ error: HTTPError) {
        incoming?.reservation.release()
        pending.append(.refusal(error, incoming))
        incoming = nil
        // What was read ahead will never be parsed.
        parser = HTTPRequestParser(limits: context.configuration.parserLimits)
        stopReading = true
        headStartedAt = nil
        suspendReading()
    }

    private func peerDidClose() {
        suspendReading()
        if outgoing?.stream != nil || (!busy && pending.isEmpty) {
            close()
        }
    }

    // MARK: Answering

    private func startNext() {
        guard !closed, !busy, !pending.isEmpty else { return }
        let item = pending.removeFirst()
        busy = true
        switch item {
        case .refusal(let error, let request):
            var responseContext = request?.context ?? ResponseWriter.Context(isHead: false, minorVersion: 1,
                                                                              keepAlive: false, acceptsGzip: false)
            responseContext.keepAlive = false
            let format = context.router.errorFormat(for: request?.request.path ?? "/")
            respond(error.response(format: format), to: request, context: responseContext)
        case .request(let request):
            switch request.match {
            case .found(let found):
                let logger = context.logger
                let writer = context.responseWriter
                let router = context.router
                let accepted = context.executor(for: found.lane).submit({ [self] in
                    // Compression is CPU work too, so it stays on the handler pool.
                    let response = writer.compressIfUseful(Self.run(found.handler, request.request, router: router,
                                                                    logger: logger),
                                                           for: request.context)
                    request.reservation.release()
                    queue.async { [self] in respond(response, to: request, context: request.context) }
                }, queue: found.queue, limit: context.queueLimit(for: found.queue).maxQueued)
                if !accepted {
                    // The body is read whole, so the connection can go on.
                    request.reservation.release()
                    let refusal = context.queueFull(found.queue).response(format: router.errorFormat(for: request.request.path))
                    queue.async { [self] in respond(refusal, to: request, context: request.context) }
                }
            case .methodNotAllowed, .notFound, .invalidPath:
                // Answered on a later turn of the queue: answering here would nest one
                // call chain per pipelined request and could exhaust the stack.
                queue.async { [self] in
                    let format = context.router.errorFormat(for: request.request.path)
                    // nil only for a found route, handled above.
                    let answer = request.match.answer(method: request.request.method, path: request.request.path, format: format)!
                    respond(answer, to: request, context: request.context)
                }
            }
        }
    }

    /// A handler's response, or its error's: any `HTTPResponseError` in the format of the
    /// request's route family; anything else is logged and answered 500 with an empty body,
    /// since what it says is for the operator, not the client.
    private static func run(_ handler: HTTPHandler, _ request: HTTPServerRequest, router: Router,
                            logger: Logger) -> HTTPServerResponse {
        do {
            return try handler(request)
        } catch let error as HTTPResponseError {
            return error.response(format: router.errorFormat(for: request.path))
        } catch {
            logger.error("handler failed", metadata: ["path": "\(request.path)", "error": "\(error)"])
            return HTTPServerResponse(status: .internalServerError)
        }
    }

    private func respond(_ response: HTTPServerResponse, to request: Incoming?, context responseContext: ResponseWriter.Context) {
        guard !closed else { return }
        var responseContext = responseContext
        if draining { responseContext.keepAlive = false }
        let prepared = context.responseWriter.prepare(response, for: responseContext, date: context.date.now)
        var current = Outgoing(method: request?.request.method.rawValue ?? "-", path: request?.request.path ?? "-",
                               route: request?.request.route, status: response.status.code,
                               startedAt: request?.startedAt ?? .now(), bodyBytes: prepared.body.count,
                               keepAlive: prepared.keepAlive, framing: prepared.framing,
                               declaredLength: prepared.producer == nil ? nil : prepared.contentLength,
                               streamID: nil, stream: nil, fullyQueued: prepared.producer == nil)
        output.append(contentsOf: prepared.head)
        output.append(prepared.body)
        if let producer = prepared.producer {
            nextStreamID += 1
            let streamID = nextStreamID
            let writer = ResponseBodyWriter(
                highWatermark: context.configuration.streamHighWatermarkBytes,
                sink: { [weak self] data in
                    guard let self else { return }
                    queue.async { self.streamWrite(data, streamID: streamID) }
                },
                finisher: { [weak self] in
                    guard let self else { return }
                    queue.async { self.streamFinish(streamID: streamID) }
                })
            current.streamID = streamID
            current.stream = writer
            DispatchQueue.global().async { producer(writer) }
        }
        outgoing = current
        flush()
        updateTimer()
    }

    private func streamWrite(_ data: Data, streamID: Int) {
        // A write racing a shutdown's forced finish must not land after the last chunk.
        guard !closed, outgoing?.streamID == streamID, outgoing?.stream != nil, let framing = outgoing?.framing else { return }
        if let declared = outgoing?.declaredLength, let sent = outgoing?.bodyBytes, sent + data.count > declared {
            context.logger.error("a stream wrote more than its Content-Length", metadata: ["path": "\(outgoing?.path ?? "-")"])
            return close()
        }
        outgoing?.bodyBytes += data.count
        outgoing?.unacknowledgedBytes += data.count
        output.append(framing == .chunked ? ResponseWriter.chunk(data) : data)
        flush()
    }

    private func streamFinish(streamID: Int) {
        guard !closed, outgoing?.streamID == streamID else { return }
        if let declared = outgoing?.declaredLength, outgoing?.bodyBytes != declared {
            // The client cannot tell a short body from a slow one; closing is the only signal left.
            context.logger.error("a stream ended short of its Content-Length", metadata: ["path": "\(outgoing?.path ?? "-")"])
            return close()
        }
        if outgoing?.framing == .chunked { output.append(ResponseWriter.lastChunk) }
        outgoing?.stream = nil
        outgoing?.fullyQueued = true
        flush()
    }

    // MARK: Writing

    private func flush() {
        guard !closed else { return }
        while outputOffset < output.count {
            let result = output.withUnsafeBytes { bytes in
                transport.write(UnsafeRawBufferPointer(rebasing: bytes[outputOffset...]))
            }
            switch result {
            case .transferred(let count):
                outputOffset += count
                lastActivity = .now()
            case .wouldBlock:
                enableWriteSource()
                return
            case .closed, .failed:
                return close()
            }
        }
        output.removeAll(keepingCapacity: output.count <= 1024 * 1024)
        outputOffset = 0
        disableWriteSource()
        if let stream = outgoing?.stream, let sent = outgoing?.unacknowledgedBytes, sent > 0 {
            outgoing?.unacknowledgedBytes = 0
            stream.acknowledge(sent)
        }
        if outgoing?.fullyQueued == true { responseDidFinish() }
    }

    private func responseDidFinish() {
        guard let finished = outgoing else { return }
        outgoing = nil
        busy = false
        requestsServed += 1
        lastActivity = .now()
        record(finished)
        if !finished.keepAlive || draining {
            return stopReading && !context.isSecure ? lingerClose() : close()
        }
        if peerClosed && pending.isEmpty { return close() }
        if headStartedAt != nil { headStartedAt = lastActivity }
        if readSuspended && !stopReading && !peerClosed { resumeReading() }
        parseInput()
        updateTimer()
    }

    private func record(_ finished: Outgoing) {
        let duration = Double(DispatchTime.now().uptimeNanoseconds - finished.startedAt.uptimeNanoseconds) / 1e9
        let entry = HTTPAccessRecord(method: finished.method, path: finished.path, route: finished.route,
                                     status: finished.status, bodyBytes: finished.bodyBytes, duration: duration,
                                     remoteAddress: remoteAddress)
        context.logger.info("\(entry.method) \(entry.path) \(entry.status) \(entry.bodyBytes)B \(String(format: "%.3f", duration * 1000))ms",
                            metadata: ["remote": "\(remoteAddress)"])
        context.observer?.requestCompleted(entry)
    }

    // MARK: Timeouts

    private func updateTimer() {
        guard !closed, !lingering else { return }
        let configuration = context.configuration
        let next: DispatchTime?
        if outputOffset < output.count {
            next = lastActivity + configuration.idleTimeout
        } else if busy {
            next = nil
        } else if let headStartedAt {
            next = headStartedAt + configuration.headerReadTimeout
        } else if parser.isMidRequest {
            next = lastActivity + configuration.idleTimeout
        } else {
            next = lastActivity + (requestsServed == 0 ? configuration.headerReadTimeout : configuration.idleTimeout)
        }
        deadline = next
        // Re-arming a Dispatch timer costs a wake-up of Dispatch's manager thread,
        // so it is re-armed only to fire earlier; a late deadline is re-checked on firing.
        if let next, timerFiresAt.map({ next < $0 }) ?? true {
            timer.schedule(deadline: next)
            timerFiresAt = next
        }
    }

    private func onTimer() {
        timerFiresAt = nil
        guard !closed, let deadline else { return }
        guard DispatchTime.now() >= deadline else {
            timer.schedule(deadline: deadline)
            timerFiresAt = deadline
            return
        }
        if lingering { return close() }
        if headStartedAt != nil && !busy && !stopReading {
            refuse(HTTPError(.requestTimeout, code: "request_timeout",
                             message: "The request head did not arrive within the time allowed."))
            startNext()
            return
        }
        close()
    }

    // MARK: Sources and closing

    private func suspendReading() {
        guard let readSource, !readSuspended else { return }
        readSource.suspend()
        readSuspended = true
    }

    private func resumeReading() {
        guard let readSource, readSuspended, !closed else { return }
        readSource.resume()
        readSuspended = false
        queue.async { [self] in onReadable() }
    }

    private func enableWriteSource() {
        if writeSource == nil {
            let source = DispatchSource.makeWriteSource(fileDescriptor: transport.fd, queue: queue)
            source.setEventHandler { [unowned self] in flush() }
            source.setCancelHandler { [self] in sourceCancelled() }
            writeSource = source
        }
        if writeSuspended {
            writeSource?.resume()
            writeSuspended = false
        }
        updateTimer()
    }

    private func disableWriteSource() {
        guard let writeSource, !writeSuspended else { return }
        writeSource.suspend()
        writeSuspended = true
    }

    /// Half-closes after a refusal and discards what the client still sends, so
    /// that unread request bytes do not turn the close into a reset that destroys
    /// the refusal before the client reads it.
    private func lingerClose() {
        lingering = true
        _ = Glibc.shutdown(transport.fd, Int32(SHUT_WR))
        let lingerDeadline = DispatchTime.now() + Self.lingerSeconds
        deadline = lingerDeadline
        timer.schedule(deadline: lingerDeadline)
        timerFiresAt = lingerDeadline
        if readSuspended {
            readSource?.resume()
            readSuspended = false
        }
    }

    private var sourcesToCancel = 0

    private func close() {
        guard !closed else { return }
        closed = true
        // Bodies not yet handed to a handler will never be; one being handled is released when it returns.
        incoming?.reservation.release()
        for case .request(let request) in pending { request.reservation.release() }
        if let stream = outgoing?.stream {
            DispatchQueue.global().async { stream.connectionClosed() }
        }
        outgoing = nil
        timer.cancel()
        sourcesToCancel = (readSource == nil ? 0 : 1) + (writeSource == nil ? 0 : 1)
        if let writeSource {
            if writeSuspended { writeSource.resume() }
            writeSource.cancel()
        }
        if let readSource {
            if readSuspended { readSource.resume() }
            readSource.cancel()
        }
        if sourcesToCancel == 0 { release() }
    }

    /// The descriptor may be closed only after every source watching it is cancelled.
    private func sourceCancelled() {
        sourcesToCancel -= 1
        if sourcesToCancel == 0 { release() }
    }

    private func release() {
        transport.shutdown()
        _ = Glibc.close(transport.fd)
        onClose(self)
    }
}
