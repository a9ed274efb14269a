#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The IMF-fixdate for the Date header, formatted at most once per second.
final class HTTPDate: @unchecked Sendable {
    private let lock = NSLock()
    private var cachedSecond = 0
    private var cached = ""

    var now: String {
        var seconds = time(nil)
        lock.lock()
        defer { lock.unlock() }
        if seconds != cachedSecond {
            cachedSecond = seconds
            cached = Self.format(&seconds)
        }
        return cached
    }

    static func format(_ seconds: inout time_t) -> String {
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        // The C locale's names are the ones RFC 9110 requires.
        let count = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
