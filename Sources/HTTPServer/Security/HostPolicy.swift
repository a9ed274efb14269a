#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The host names a server answers for. A page whose name an attacker re-pointed at this
/// server's address (DNS rebinding) reaches it with its own name in `Host`; refusing names the
/// server does not know keeps such a page from reading or changing anything.
///
/// Always allowed: `localhost` and its subdomains (RFC 6761 keeps them on this machine) and IP
/// literals, which no rebinding can produce since the browser then connects to that very address.
public struct HostPolicy: Sendable, Equatable {
    /// Further names: exact (`salient.example.com`), subdomains (`.example.com` or
    /// `*.example.com`), or `*` for any name.
    public var names: [String]

    public init(names: [String] = []) {
        self.names = names.map { $0.lowercased() }
    }

    /// Whether `authority` (a Host value: name or address, with an optional port) is served.
    public func allows(_ authority: String) -> Bool {
        if names.contains("*") { return true }
        guard let host = Self.host(of: authority) else { return false }
        if host.hasPrefix("[") || Self.isIPv4Literal(host) { return true }
        let name = host.hasSuffix(".") ? String(host.dropLast()) : host
        if name == "localhost" || name.hasSuffix(".localhost") { return true }
        return names.contains { pattern in
            if pattern.hasPrefix("*.") { return name.hasSuffix(pattern.dropFirst()) }
            if pattern.hasPrefix(".") { return name.hasSuffix(pattern) }
            return name == pattern
        }
    }

    /// The lowercased host of an authority without its port; an IPv6 literal keeps its brackets.
    static func host(of authority: String) -> String? {
        let lowered = authority.lowercased()
        if lowered.hasPrefix("[") {
            guard let close = lowered.firstIndex(of: "]") else { return nil }
            let rest = lowered[lowered.index(after: close)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && rest.dropFirst().allSatisfy(\.isNumber)) else { return nil }
            return String(lowered[...close])
        }
        guard let colon = lowered.lastIndex(of: ":") else { return lowered.isEmpty ? nil : lowered }
        guard lowered[lowered.index(after: colon)...].allSatisfy(\.isNumber) else { return nil }
        let host = String(lowered[..<colon])
        return host.isEmpty ? nil : host
    }

    private static func isIPv4Literal(_ host: String) -> Bool {
        var address = in_addr()
        return inet_pton(AF_INET, host, &address) == 1
    }
}
