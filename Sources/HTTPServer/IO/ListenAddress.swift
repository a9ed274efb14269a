#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a listening address exposes, decided the way `Socket.listen` binds it: by the first
/// address `getaddrinfo` gives for the host.
public enum ListenAddress {
    /// True when the server would accept connections only from this machine (127.0.0.0/8 or
    /// ::1); false for wildcards ("0.0.0.0", "::"), other addresses, and names that do not resolve.
    public static func isLoopback(_ host: String) -> Bool {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, "0", &hints, &results) == 0, let first = results else { return false }
        defer { freeaddrinfo(results) }
        switch first.pointee.ai_family {
        case AF_INET:
            return first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                UInt32(bigEndian: $0.pointee.sin_addr.s_addr) >> 24 == 127
            }
        case AF_INET6:
            return first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                let bytes = withUnsafeBytes(of: $0.pointee.sin6_addr) { Array($0) }
                let mappedIPv4 = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
                return bytes == [UInt8](repeating: 0, count: 15) + [1] || (mappedIPv4 && bytes[12] == 127)
            }
        default:
            return false
        }
    }
}
