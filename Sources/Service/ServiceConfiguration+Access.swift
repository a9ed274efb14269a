import Foundation
import HTTPServer

/// Who may reach the service and with which token: the listening address, the exposure check
/// at start, and the tokens that reads and writes need.
extension ServiceConfiguration {
    /// The address to bind: the configured host, or 127.0.0.1 without a token and 0.0.0.0 with one.
    public var listenHost: String { host ?? (hasToken ? "0.0.0.0" : "127.0.0.1") }

    var hasToken: Bool { apiToken != nil || readToken != nil }

    /// Tokens a state-changing request may present; nil when writes are open. A read token set
    /// alone guards writes too: there is no setting that protects reads but leaves writes open.
    var writeTokens: [String]? {
        if let apiToken { return [apiToken] }
        return readToken.map { [$0] }
    }

    /// Tokens a read may present; nil when reads are open. The management token is accepted
    /// wherever the read token is.
    var readTokens: [String]? {
        guard readToken != nil || protectReads else { return nil }
        let tokens = [readToken, apiToken].compactMap { $0 }
        return tokens.isEmpty ? nil : tokens
    }

    /// Refuses to listen beyond this machine with no token unless `insecure_open` says so, and a
    /// read protection that has no token to check.
    public func checkExposure() throws {
        if protectReads && !hasToken {
            throw Error(description: "protect_reads is set but there is no token to check: set read_token "
                + "(SALIENT_READ_TOKEN, --read-token) or api_token (SALIENT_API_TOKEN, --token)")
        }
        guard !hasToken, !insecureOpen, !ListenAddress.isLoopback(listenHost) else { return }
        throw Error(description: "refusing to listen on \(listenHost) without a token: anyone who can reach it could "
            + "upload and delete models, queue fine-tuning jobs and fill the disk. Set api_token (SALIENT_API_TOKEN, "
            + "--token, or a file with SALIENT_API_TOKEN_FILE, --token-file), listen on 127.0.0.1, or accept the risk "
            + "with --insecure-open (insecure_open, SALIENT_INSECURE_OPEN=1)")
    }

    /// What the service exposes, for the log at start: warnings when it is open beyond this machine.
    public func exposureSummary(port: Int) -> (warnings: [String], notes: [String]) {
        let loopback = ListenAddress.isLoopback(listenHost)
        let reads = readTokens == nil ? "open" : "need a token"
        let writes = writeTokens == nil ? "open" : "need a token"
        let line = "listening on \(listenHost):\(port): reads \(reads), writes \(writes)"
        if loopback { return ([], [line + " (this machine only)"]) }
        if !hasToken {
            return ([
                "INSECURE: --insecure-open (insecure_open) is set and there is no token.",
                "INSECURE: anyone who can reach \(listenHost):\(port) can upload and delete models, "
                    + "queue fine-tuning jobs, fill the disk and use every CPU.",
                "INSECURE: set api_token (SALIENT_API_TOKEN, --token) or listen on 127.0.0.1.",
            ], [line])
        }
        if readTokens == nil {
            return (["reads (classification, saliency, listings, metrics) are open to anyone who can reach "
                + "\(listenHost):\(port); set read_token or protect_reads to guard them"], [line])
        }
        return ([], [line])
    }

    /// The token from a value or a file (its first line), or nil when neither is given; both
    /// at once, an empty value or an unreadable file is an error naming the setting.
    public static func token(value: String?, file: String?, settings: (value: String, file: String)) throws -> String? {
        if value != nil, file != nil {
            throw Error(description: "both \(settings.value) and \(settings.file) are set; give one")
        }
        if let value { return try checkedToken(value, setting: settings.value) }
        guard let file else { return nil }
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
            throw Error(description: "\(settings.file): cannot read the token file \(file)")
        }
        // A file written by `echo` ends in a newline that is not part of the token.
        let line = text.hasSuffix("\r\n") ? String(text.dropLast(2)) : text.hasSuffix("\n") ? String(text.dropLast()) : text
        return try checkedToken(line, setting: "\(settings.file) (\(file))")
    }

    /// A token every request must match: an empty one would match a missing header, and
    /// whitespace or control characters could never arrive intact in a header.
    static func checkedToken(_ token: String, setting: String) throws -> String {
        guard !token.isEmpty else {
            throw Error(description: "\(setting) is empty: an empty token would let every request in; give a long random "
                + "string (openssl rand -hex 32), or leave the setting out")
        }
        guard token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw Error(description: "\(setting) holds spaces, control or non-ASCII characters; a bearer token is "
                + "printable ASCII without spaces")
        }
        return token
    }
}
