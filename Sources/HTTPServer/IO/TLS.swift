import COpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A TLS configuration failed to load.
public struct TLSError: Error, CustomStringConvertible, Sendable {
    public let description: String

    init(_ operation: String) {
        var message = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(ERR_get_error(), &message, message.count)
        description = "\(operation): \(String(cString: message))"
    }
}

/// The server's OpenSSL context: certificate chain, key, and protocol floor.
final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer

    init(certificatePath: String, privateKeyPath: String) throws {
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw TLSError("SSL_CTX_new") }
        self.context = context
        SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_2_VERSION), nil)
        // The connection retries writes from a buffer that may have moved and
        // wants to know how much of a large write went out.
        SSL_CTX_ctrl(context, SSL_CTRL_MODE, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER), nil)
        guard SSL_CTX_use_certificate_chain_file(context, certificatePath) == 1 else {
            throw TLSError("loading certificate \(certificatePath)")
        }
        guard SSL_CTX_use_PrivateKey_file(context, privateKeyPath, SSL_FILETYPE_PEM) == 1 else {
            throw TLSError("loading private key \(privateKeyPath)")
        }
        guard SSL_CTX_check_private_key(context) == 1 else { throw TLSError("checking the private key") }
    }

    deinit {
        SSL_CTX_free(context)
    }
}

/// TLS over a non-blocking socket; the handshake happens inside the first reads.
final class TLSTransport: Transport {
    let fd: Int32
    private let ssl: OpaquePointer
    private var freed = false

    init?(fd: Int32, context: TLSContext) {
        guard let ssl = SSL_new(context.context) else { return nil }
        self.fd = fd
        self.ssl = ssl
        SSL_set_fd(ssl, fd)
        SSL_set_accept_state(ssl)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        ERR_clear_error()
        let count = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        return count > 0 ? .transferred(Int(count)) : outcome(of: count)
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> IOResult {
        guard !bytes.isEmpty else { return .transferred(0) }
        ERR_clear_error()
        let count = SSL_write(ssl, bytes.baseAddress, Int32(clamping: bytes.count))
        return count > 0 ? .transferred(Int(count)) : outcome(of: count)
    }

    private func outcome(of result: Int32) -> IOResult {
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .wouldBlock
        case SSL_ERROR_ZERO_RETURN, SSL_ERROR_SYSCALL:
            return .closed
        default:
            // A failed handshake or a corrupt record: nothing more can be exchanged.
            return .failed(EPROTO)
        }
    }

    func shutdown() {
        guard !freed else { return }
        freed = true
        SSL_shutdown(ssl)
        SSL_free(ssl)
    }
}
