import Foundation

/// How a family of routes writes an error's body. One error reads
/// `{"error":{"code":"...","message":"..."}}` on the service's own API and
/// `{"error":"..."}` where the Open Inference Protocol asks for that; the router picks the
/// format by path (`Router.setErrorFormat(_:forPathsUnder:)`).
public struct HTTPErrorFormat: Sendable {
    /// The Content-Type and body for an error's code and message.
    public let render: @Sendable (_ code: String, _ message: String) -> (contentType: String, body: Data)

    public init(render: @escaping @Sendable (_ code: String, _ message: String) -> (contentType: String, body: Data)) {
        self.render = render
    }

    /// `{"error":{"code":"...","message":"..."}}`: the default.
    public static let codeAndMessage = HTTPErrorFormat { code, message in
        struct Envelope: Encodable {
            struct Detail: Encodable {
                let code: String
                let message: String
            }
            let error: Detail
        }
        return ("application/json", json(Envelope(error: .init(code: code, message: message))))
    }

    /// `{"error":"..."}`, the message alone (the Open Inference Protocol's shape).
    public static let message = HTTPErrorFormat { _, message in
        ("application/json", json(["error": message]))
    }

    private static func json(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding strings into a fixed shape cannot fail.
        return (try? encoder.encode(value)) ?? Data()
    }
}
