/// The bytes a parser has received but not yet consumed.
///
/// Consumed bytes are dropped lazily so that appending stays amortised O(1) and
/// a message split across many reads is never rescanned from its start.
struct ParseBuffer {
    enum LineError: Error {
        case tooLong
        case bareLineFeed
        case bareCarriageReturn
    }

    private(set) var bytes: [UInt8] = []
    private(set) var readIndex = 0
    /// How far past `readIndex` a previous search for LF already looked.
    private var scannedCount = 0

    var readableCount: Int { bytes.count - readIndex }
    var isEmpty: Bool { readableCount == 0 }

    mutating func append(_ newBytes: UnsafeRawBufferPointer) {
        compactIfWorthwhile()
        bytes.append(contentsOf: newBytes)
    }

    mutating func append<C: Collection>(contentsOf newBytes: C) where C.Element == UInt8 {
        compactIfWorthwhile()
        bytes.append(contentsOf: newBytes)
    }

    /// Returns the next CRLF-terminated line without its terminator, `nil` if no
    /// full line has arrived yet. A line longer than `maxLength` throws as soon as
    /// that is certain, so a peer cannot make the buffer grow without bound.
    mutating func readLine(maxLength: Int) throws -> ArraySlice<UInt8>? {
        let searchStart = readIndex + scannedCount
        let searchEnd = min(bytes.count, readIndex + maxLength + 2)
        var lineFeed: Int?
        var index = searchStart
        while index < searchEnd {
            if bytes[index] == UInt8(ascii: "\n") {
                lineFeed = index
                break
            }
            index += 1
        }
        guard let end = lineFeed else {
            if readableCount > maxLength + 1 { throw LineError.tooLong }
            scannedCount = searchEnd - readIndex
            return nil
        }
        guard end > readIndex, bytes[end - 1] == UInt8(ascii: "\r") else { throw LineError.bareLineFeed }
        let line = bytes[readIndex..<(end - 1)]
        if line.count > maxLength { throw LineError.tooLong }
        if line.contains(UInt8(ascii: "\r")) { throw LineError.bareCarriageReturn }
        readIndex = end + 1
        scannedCount = 0
        return line
    }

    /// Consumes up to `maxCount` bytes.
    mutating func read(upTo maxCount: Int) -> ArraySlice<UInt8> {
        let count = min(maxCount, readableCount)
        let slice = bytes[readIndex..<(readIndex + count)]
        readIndex += count
        scannedCount = 0
        return slice
    }

    private mutating func compactIfWorthwhile() {
        guard readIndex > 0 else { return }
        if readIndex == bytes.count {
            bytes.removeAll(keepingCapacity: true)
            readIndex = 0
        } else if readIndex >= 64 * 1024 && readIndex * 2 >= bytes.count {
            bytes.removeSubrange(0..<readIndex)
            readIndex = 0
        }
    }
}
