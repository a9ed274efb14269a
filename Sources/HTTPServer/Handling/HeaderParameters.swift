import Foundation

/// A header value with `;`-separated parameters, such as
/// `form-data; name="file"; filename="a.png"`.
public struct HeaderParameters: Sendable {
    public var value: String
    private var parameters: [String: String]

    public subscript(name: String) -> String? { parameters[name.lowercased()] }

    public static func parse(_ header: String) -> HeaderParameters {
        var scalars = Substring(header).unicodeScalars[...]
        let value = String(String.UnicodeScalarView(scalars.prefix { $0 != ";" })).trimmingCharacters(in: .whitespaces)
        scalars = scalars.drop { $0 != ";" }
        var parameters: [String: String] = [:]
        while scalars.first == ";" {
            scalars = scalars.dropFirst()
            let name = String(String.UnicodeScalarView(scalars.prefix { $0 != "=" && $0 != ";" }))
                .trimmingCharacters(in: .whitespaces).lowercased()
            scalars = scalars.drop { $0 != "=" && $0 != ";" }
            guard scalars.first == "=" else { continue }
            scalars = scalars.dropFirst().drop { $0 == " " || $0 == "\t" }
            var parameterValue = String.UnicodeScalarView()
            if scalars.first == "\"" {
                scalars = scalars.dropFirst()
                while let scalar = scalars.popFirst(), scalar != "\"" {
                    if scalar == "\\", let escaped = scalars.popFirst() {
                        parameterValue.append(escaped)
                    } else {
                        parameterValue.append(scalar)
                    }
                }
                scalars = scalars.drop { $0 != ";" }
            } else {
                parameterValue.append(contentsOf: scalars.prefix { $0 != ";" })
                scalars = scalars.drop { $0 != ";" }
            }
            if !name.isEmpty {
                parameters[name] = String(parameterValue).trimmingCharacters(in: .whitespaces)
            }
        }
        return HeaderParameters(value: value, parameters: parameters)
    }
}
