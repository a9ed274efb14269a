/// An incremental, byte-oriented HTTP/1.x request parser (RFC 9112).
///
/// Feed it bytes as they arrive with `append`, then call `next()` until it returns
/// `nil`. Every length it tracks is bounded by `Limits`, so no input can make it
/// allocate more than those limits allow or loop without consuming input. After it
/// throws, it stays failed: the connection must answer the error and close.
public struct HTTPRequestParser {
    public struct Limits: Sendable {
        public var maxRequestLineBytes: Int
        public var maxHeaderBytes: Int
        public var maxHeaderFields: Int
        public var maxBodyBytes: Int

        public init(maxRequestLineBytes: Int = 8 * 1024, maxHeaderBytes: Int = 16 * 1024,
                    maxHeaderFields: Int = 100, maxBodyBytes: Int = 64 * 1024 * 1024) {
            self.maxRequestLineBytes = maxRequestLineBytes
            self.maxHeaderBytes = maxHeaderBytes
            self.maxHeaderFields = maxHeaderFields
            self.maxBodyBytes = maxBodyBytes
        }
    }

    public enum Event: Equatable {
        case head(HTTPRequestHead)
        case body(ArraySlice<UInt8>)
        case end
    }

    private enum State {
        case requestLine
        case headers(method: String, target: String, minorVersion: Int)
        /// The head was delivered; the body limit may still change before framing starts.
        case bodyPending(HTTPRequestHead.Framing)
        case fixedBody(remaining: Int)
        case chunkedBody(ChunkedDecoder)
        case failed(HTTPParseError)
    }

    /// Clients may send stray CRLFs between pipelined requests (RFC 9112 section 2.2).
    private static let maxLeadingEmptyLines = 8

    public let limits: Limits
    /// The body limit for the request whose head was just returned. The server sets
    /// it from the matched route; it resets to `limits.maxBodyBytes` for every request.
    public var bodyLimit: Int
    private var buffer = ParseBuffer()
    private var state = State.requestLine
    private var fields: [HTTPRequestHead.Field] = []
    private var headerBytes = 0
    private var leadingEmptyLines = 0

    public init(limits: Limits = Limits()) {
        self.limits = limits
        self.bodyLimit = limits.maxBodyBytes
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        buffer.append(bytes)
    }

    public mutating func append<C: Collection>(contentsOf bytes: C) where C.Element == UInt8 {
        buffer.append(contentsOf: bytes)
    }

    /// True while a request has started but is not complete, including bytes
    /// buffered ahead of the next request.
    public var isMidRequest: Bool {
        if case .requestLine = state { return !buffer.isEmpty }
        return true
    }

    /// True once the current request's head is complete; slowloris timeouts only
    /// apply before that.
    public var isReadingHead: Bool {
        switch state {
        case .requestLine: return !buffer.isEmpty
        case .headers: return true
        default: return false
        }
    }

    public var bufferedByteCount: Int { buffer.readableCount }

    public mutating func next() throws -> Event? {
        do {
            return try step()
        } catch let error as HTTPParseError {
            state = .failed(error)
            throw error
        }
    }

    private mutating func step() throws -> Event? {
        while true {
            switch state {
            case .failed(let error):
                throw error
            case .requestLine:
                guard let line = try readLine(&buffer, maxLength: limits.maxRequestLineBytes, tooLong: .requestLineTooLong) else {
                    return nil
                }
                if line.isEmpty {
                    leadingEmptyLines += 1
                    if leadingEmptyLines > Self.maxLeadingEmptyLines { throw HTTPParseError.malformedRequestLine }
                    continue
                }
                let (method, target, minorVersion) = try Self.parseRequestLine(line)
                leadingEmptyLines = 0
                fields = []
                headerBytes = 0
                state = .headers(method: method, target: target, minorVersion: minorVersion)
            case .headers(let method, let target, let minorVersion):
                let remaining = limits.maxHeaderBytes - headerBytes
                guard let line = try readLine(&buffer, maxLength: max(0, remaining - 2), tooLong: .headerSectionTooLarge) else {
                    return nil
                }
                headerBytes += line.count + 2
                if line.isEmpty {
                    let head = try Self.makeHead(method: method, target: target, minorVersion: minorVersion, fields: fields)
                    fields = []
                    bodyLimit = limits.maxBodyBytes
                    state = .bodyPending(head.framing)
                    return .head(head)
                }
                fields.append(try parseFieldLine(line))
                if fields.count > limits.maxHeaderFields { throw HTTPParseError.tooManyHeaderFields }
            case .bodyPending(let framing):
                switch framing {
                case .none, .length(0):
                    state = .requestLine
                    return .end
                case .length(let length):
                    if length > bodyLimit { throw HTTPParseError.bodyTooLarge }
                    state = .fixedBody(remaining: length)
                case .chunked:
                    state = .chunkedBody(ChunkedDecoder(maxBodyBytes: bodyLimit, maxTrailerBytes: limits.maxHeaderBytes,
                                                        maxTrailerFields: limits.maxHeaderFields))
                }
            case .fixedBody(let remaining):
                if remaining == 0 {
                    state = .requestLine
                    return .end
                }
                guard !buffer.isEmpty else { return nil }
                let slice = buffer.read(upTo: remaining)
                state = .fixedBody(remaining: remaining - slice.count)
                return .body(slice)
            case .chunkedBody(var decoder):
                let output = try decoder.decode(&buffer)
                switch output {
                case .data(let slice)?:
                    state = .chunkedBody(decoder)
                    return .body(slice)
                case .end?:
                    state = .requestLine
                    return .end
                case nil:
                    state = .chunkedBody(decoder)
                    return nil
                }
            }
        }
    }

    /// request-line = method SP request-target SP HTTP-version, single spaces only.
    static func parseRequestLine(_ line: ArraySlice<UInt8>) throws -> (String, String, Int) {
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw HTTPParseError.malformedRequestLine }
        let method = parts[0], target = parts[1], version = parts[2]
        guard !method.isEmpty, method.allSatisfy(ByteClass.isTokenCharacter) else {
            throw HTTPParseError.malformedRequestLine
        }
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw HTTPParseError.malformedRequestLine
        }
        let prefix: [UInt8] = Array("HTTP/".utf8)
        guard version.count == 8, version.starts(with: prefix) else { throw HTTPParseError.malformedRequestLine }
        let major = version[version.startIndex + 5], dot = version[version.startIndex + 6]
        let minor = version[version.startIndex + 7]
        let digits = UInt8(ascii: "0")...UInt8(ascii: "9")
        guard digits.contains(major), dot == UInt8(ascii: "."), digits.contains(minor) else {
            throw HTTPParseError.malformedRequestLine
        }
        guard major == UInt8(ascii: "1"), minor <= UInt8(ascii: "1") else { throw HTTPParseError.unsupportedVersion }
        return (String(decoding: method, as: UTF8.self), String(decoding: target, as: UTF8.self), Int(minor - digits.lowerBound))
    }

    /// Decides framing, persistence and expectations from the header section.
    static func makeHead(method: String, target: String, minorVersion: Int,
                         fields: [HTTPRequestHead.Field]) throws -> HTTPRequestHead {
        var head = HTTPRequestHead(method: method, target: target, minorVersion: minorVersion, fields: fields,
                                   framing: .none, keepAlive: minorVersion == 1, expectsContinue: false)
        let hosts = head.values(named: "host")
        if hosts.count > 1 { throw HTTPParseError.multipleHosts }
        if minorVersion == 1 && hosts.isEmpty { throw HTTPParseError.missingHost }
        if let host = hosts.first, !host.utf8.allSatisfy(ByteClass.isHostCharacter) { throw HTTPParseError.invalidHost }

        let lengths = head.values(named: "content-length")
        let codings = head.values(named: "transfer-encoding").flatMap(listElements)
        if !codings.isEmpty || !head.values(named: "transfer-encoding").isEmpty {
            if !lengths.isEmpty { throw HTTPParseError.contentLengthWithTransferEncoding }
            // HTTP/1.0 has no chunked coding, so its framing would be ambiguous.
            guard minorVersion == 1, codings.last == "chunked", codings.filter({ $0 == "chunked" }).count == 1 else {
                throw HTTPParseError.invalidTransferEncoding
            }
            guard codings.count == 1 else { throw HTTPParseError.unsupportedTransferCoding }
            head.framing = .chunked
        } else if !lengths.isEmpty {
            head.framing = .length(try parseContentLength(lengths))
        } else if ["POST", "PUT", "PATCH"].contains(method) {
            throw HTTPParseError.lengthRequired
        }

        let connection = head.values(named: "connection").flatMap(listElements)
        if connection.contains("close") {
            head.keepAlive = false
        } else if connection.contains("keep-alive") {
            head.keepAlive = true
        }

        let expectations = head.values(named: "expect").flatMap(listElements)
        if !expectations.isEmpty {
            guard expectations == ["100-continue"] else { throw HTTPParseError.unsupportedExpectation }
            head.expectsContinue = minorVersion == 1
        }
        return head
    }

    /// Content-Length = 1*DIGIT; a list of identical values is accepted (RFC 9110
    /// section 8.6), differing values are refused.
    static func parseContentLength(_ values: [String]) throws -> Int {
        var result: Int?
        for value in values {
            for element in value.split(separator: ",", omittingEmptySubsequences: false) {
                let digits = ByteClass.trimmingWhitespace(ArraySlice(element.utf8))
                guard !digits.isEmpty, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                    throw HTTPParseError.invalidContentLength
                }
                var length = 0
                for digit in digits {
                    let (shifted, overflow1) = length.multipliedReportingOverflow(by: 10)
                    let (sum, overflow2) = shifted.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
                    // Too large to represent is certainly too large to accept.
                    if overflow1 || overflow2 { throw HTTPParseError.bodyTooLarge }
                    length = sum
                }
                if let previous = result, previous != length { throw HTTPParseError.invalidContentLength }
                result = length
            }
        }
        guard let length = result else { throw HTTPParseError.invalidContentLength }
        return length
    }
}
