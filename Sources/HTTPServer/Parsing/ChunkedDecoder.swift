/// Decodes the chunked transfer coding of RFC 9112 section 7.1.
///
/// Chunk extensions are skipped after checking they hold no control characters;
/// trailer fields are validated like header fields and then dropped, since no
/// handler here needs them.
struct ChunkedDecoder {
    enum Output: Equatable {
        case data(ArraySlice<UInt8>)
        case end
    }

    private enum State {
        case size
        case data(remaining: Int)
        case dataTerminator
        case trailers
        case done
    }

    /// A chunk-size line with extensions longer than this is refused.
    static let maxSizeLineBytes = 4096

    let maxBodyBytes: Int
    let maxTrailerBytes: Int
    let maxTrailerFields: Int
    private var state = State.size
    private var bodyBytes = 0
    private var trailerBytes = 0
    private var trailerFields = 0

    init(maxBodyBytes: Int, maxTrailerBytes: Int, maxTrailerFields: Int) {
        self.maxBodyBytes = maxBodyBytes
        self.maxTrailerBytes = maxTrailerBytes
        self.maxTrailerFields = maxTrailerFields
    }

    /// Returns the next piece of body data, `.end` after the trailer section, or
    /// `nil` when more input is needed.
    mutating func decode(_ buffer: inout ParseBuffer) throws -> Output? {
        while true {
            switch state {
            case .size:
                guard let line = try readLine(&buffer, maxLength: Self.maxSizeLineBytes, tooLong: .invalidChunk) else {
                    return nil
                }
                let size = try Self.parseSizeLine(line, maxBodyBytes: maxBodyBytes - bodyBytes)
                bodyBytes += size
                state = size == 0 ? .trailers : .data(remaining: size)
            case .data(let remaining):
                guard !buffer.isEmpty else { return nil }
                let slice = buffer.read(upTo: remaining)
                state = remaining == slice.count ? .dataTerminator : .data(remaining: remaining - slice.count)
                return .data(slice)
            case .dataTerminator:
                guard let line = try readLine(&buffer, maxLength: 0, tooLong: .invalidChunk) else { return nil }
                guard line.isEmpty else { throw HTTPParseError.invalidChunk }
                state = .size
            case .trailers:
                let remaining = maxTrailerBytes - trailerBytes
                guard let line = try readLine(&buffer, maxLength: max(0, remaining - 2), tooLong: .headerSectionTooLarge) else {
                    return nil
                }
                trailerBytes += line.count + 2
                if line.isEmpty {
                    state = .done
                    return .end
                }
                _ = try parseFieldLine(line)
                trailerFields += 1
                if trailerFields > maxTrailerFields { throw HTTPParseError.tooManyHeaderFields }
            case .done:
                return nil
            }
        }
    }

    /// chunk-size [ chunk-ext ]: hexadecimal digits, optional whitespace, then
    /// extensions that must start with ';'.
    static func parseSizeLine(_ line: ArraySlice<UInt8>, maxBodyBytes: Int) throws -> Int {
        var index = line.startIndex
        var size = 0
        while index < line.endIndex, let digit = ByteClass.hexValue(line[index]) {
            // Checked before shifting so that a long run of digits cannot overflow.
            if size > (Int.max - digit) / 16 { throw HTTPParseError.bodyTooLarge }
            size = size * 16 + digit
            index += 1
        }
        guard index > line.startIndex else { throw HTTPParseError.invalidChunk }
        if size > maxBodyBytes { throw HTTPParseError.bodyTooLarge }
        while index < line.endIndex, ByteClass.isWhitespace(line[index]) { index += 1 }
        if index < line.endIndex {
            guard line[index] == UInt8(ascii: ";") else { throw HTTPParseError.invalidChunk }
            guard line[index...].allSatisfy(ByteClass.isFieldValueCharacter) else { throw HTTPParseError.invalidChunk }
        }
        return size
    }
}

/// Reads one line, mapping the buffer's line errors onto parse errors.
func readLine(_ buffer: inout ParseBuffer, maxLength: Int, tooLong: HTTPParseError) throws -> ArraySlice<UInt8>? {
    do {
        return try buffer.readLine(maxLength: maxLength)
    } catch ParseBuffer.LineError.tooLong {
        throw tooLong
    } catch ParseBuffer.LineError.bareLineFeed {
        throw HTTPParseError.bareLineFeed
    } catch {
        throw HTTPParseError.bareCarriageReturn
    }
}

/// field-line = field-name ":" OWS field-value OWS, refusing the forms that let
/// two parsers disagree about where a field ends.
func parseFieldLine(_ line: ArraySlice<UInt8>) throws -> HTTPRequestHead.Field {
    guard let first = line.first else { throw HTTPParseError.invalidHeaderField }
    if ByteClass.isWhitespace(first) { throw HTTPParseError.obsoleteLineFolding }
    guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else {
        throw HTTPParseError.invalidHeaderField
    }
    let name = line[line.startIndex..<colon]
    if let last = name.last, ByteClass.isWhitespace(last) { throw HTTPParseError.whitespaceBeforeColon }
    guard name.allSatisfy(ByteClass.isTokenCharacter) else { throw HTTPParseError.invalidHeaderField }
    let value = ByteClass.trimmingWhitespace(line[(colon + 1)...])
    guard value.allSatisfy(ByteClass.isFieldValueCharacter) else { throw HTTPParseError.invalidHeaderField }
    return HTTPRequestHead.Field(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
}
