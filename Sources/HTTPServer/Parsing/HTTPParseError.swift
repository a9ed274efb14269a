/// Why a request was refused while being parsed, with the status it maps to.
///
/// Every case ends the connection: after a framing error the server can no longer
/// tell where the next request starts, and guessing is how requests get smuggled.
public enum HTTPParseError: Error, Equatable, Sendable {
    case malformedRequestLine
    case requestLineTooLong
    case unsupportedVersion
    case invalidHeaderField
    case whitespaceBeforeColon
    case obsoleteLineFolding
    case bareCarriageReturn
    case bareLineFeed
    case headerSectionTooLarge
    case tooManyHeaderFields
    case missingHost
    case multipleHosts
    case invalidHost
    case contentLengthWithTransferEncoding
    case invalidContentLength
    case invalidTransferEncoding
    case unsupportedTransferCoding
    case unsupportedExpectation
    case lengthRequired
    case invalidChunk
    case bodyTooLarge

    /// The numeric status code of the response that refuses the request.
    public var statusCode: Int {
        switch self {
        case .requestLineTooLong: return 414
        case .unsupportedVersion: return 505
        case .headerSectionTooLarge, .tooManyHeaderFields: return 431
        case .unsupportedTransferCoding: return 501
        case .unsupportedExpectation: return 417
        case .lengthRequired: return 411
        case .bodyTooLarge: return 413
        default: return 400
        }
    }

    /// A stable machine-readable code for the JSON error body.
    public var code: String {
        switch self {
        case .malformedRequestLine: return "malformed_request_line"
        case .requestLineTooLong: return "uri_too_long"
        case .unsupportedVersion: return "http_version_not_supported"
        case .invalidHeaderField: return "invalid_header_field"
        case .whitespaceBeforeColon: return "whitespace_before_colon"
        case .obsoleteLineFolding: return "obsolete_line_folding"
        case .bareCarriageReturn: return "bare_carriage_return"
        case .bareLineFeed: return "bare_line_feed"
        case .headerSectionTooLarge: return "header_fields_too_large"
        case .tooManyHeaderFields: return "too_many_header_fields"
        case .missingHost: return "missing_host"
        case .multipleHosts: return "multiple_hosts"
        case .invalidHost: return "invalid_host"
        case .contentLengthWithTransferEncoding: return "content_length_with_transfer_encoding"
        case .invalidContentLength: return "invalid_content_length"
        case .invalidTransferEncoding: return "invalid_transfer_encoding"
        case .unsupportedTransferCoding: return "unsupported_transfer_coding"
        case .unsupportedExpectation: return "expectation_failed"
        case .lengthRequired: return "length_required"
        case .invalidChunk: return "invalid_chunk"
        case .bodyTooLarge: return "payload_too_large"
        }
    }

    public var message: String {
        switch self {
        case .malformedRequestLine: return "The request line is not 'METHOD target HTTP/x.y'."
        case .requestLineTooLong: return "The request line exceeds the configured limit."
        case .unsupportedVersion: return "Only HTTP/1.0 and HTTP/1.1 are supported."
        case .invalidHeaderField: return "A header field is malformed."
        case .whitespaceBeforeColon: return "A header field name is followed by whitespace before the colon."
        case .obsoleteLineFolding: return "Header fields folded over several lines are not accepted."
        case .bareCarriageReturn: return "A carriage return appears outside a CRLF line ending."
        case .bareLineFeed: return "Lines must end with CRLF."
        case .headerSectionTooLarge: return "The header section exceeds the configured limit."
        case .tooManyHeaderFields: return "The request has more header fields than allowed."
        case .missingHost: return "An HTTP/1.1 request must carry a Host header."
        case .multipleHosts: return "The request carries more than one Host header."
        case .invalidHost: return "The Host header is not a valid host and port."
        case .contentLengthWithTransferEncoding: return "Content-Length and Transfer-Encoding must not both be present."
        case .invalidContentLength: return "Content-Length is not a single non-negative integer."
        case .invalidTransferEncoding: return "Transfer-Encoding must end with a single 'chunked' coding."
        case .unsupportedTransferCoding: return "The request uses a transfer coding this server does not implement."
        case .unsupportedExpectation: return "Only 'Expect: 100-continue' is supported."
        case .lengthRequired: return "The request must state its body length."
        case .invalidChunk: return "The chunked body is malformed."
        case .bodyTooLarge: return "The request body exceeds the allowed size."
        }
    }
}
