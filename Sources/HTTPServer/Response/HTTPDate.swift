#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The IMF-fixdate for the Date header, formatted at most once per second.
final class HTTPDate: Sendable {
    private let cached = Mutex((second: time_t(0), text: ""))

    var now: String {
        var seconds = time(nil)
        return cached.withLock { cached in
            if seconds != cached.second {
                cached = (seconds, Self.format(&seconds))
            }
            return cached.text
        }
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
