import Foundation
import HTTPServer
import HTTPTypes

/// An inference response in the Open Inference Protocol: a JSON object, then the binary data
/// of the outputs that asked for it, in their order, with `Inference-Header-Content-Length`
/// giving the JSON's length (the binary tensor data extension).
struct InferenceResponse {
    struct Output {
        var name: String
        var shape: [Int]
        var values: Values
        var binary: Bool
    }

    enum Values {
        case fp32([Float])
        case bytes([String])

        var datatype: TensorDatatype {
            switch self {
            case .fp32: return .fp32
            case .bytes: return .bytes
            }
        }

        /// Little-endian elements; BYTES elements each after their 4-byte length.
        var binary: Data {
            switch self {
            case let .fp32(values):
                var data = Data(capacity: values.count * 4)
                for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
                return data
            case let .bytes(strings):
                var data = Data()
                for string in strings {
                    let utf8 = Data(string.utf8)
                    withUnsafeBytes(of: UInt32(utf8.count).littleEndian) { data.append(contentsOf: $0) }
                    data.append(utf8)
                }
                return data
            }
        }
    }

    var modelName: String
    var modelVersion: String
    var id: String?
    var outputs: [Output]

    private struct Wire: Encodable {
        var model_name: String
        var model_version: String
        var id: String?
        var outputs: [WireOutput]
    }

    private struct WireOutput: Encodable {
        var name: String
        var datatype: String
        var shape: [Int]
        var parameters: [String: Int]?
        var data: WireData?
    }

    private enum WireData: Encodable {
        case numbers([Float])
        case strings([String])

        func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case let .numbers(values): try container.encode(values)
            case let .strings(values): try container.encode(values)
            }
        }
    }

    /// The HTTP response: JSON alone, or JSON and binary data as `application/octet-stream`.
    func http() throws -> HTTPServerResponse {
        var binary = Data()
        let outputs = self.outputs.map { output -> WireOutput in
            var wire = WireOutput(name: output.name, datatype: output.values.datatype.rawValue, shape: output.shape)
            if output.binary {
                let data = output.values.binary
                wire.parameters = ["binary_data_size": data.count]
                binary.append(data)
            } else {
                switch output.values {
                case let .fp32(values): wire.data = .numbers(values)
                case let .bytes(values): wire.data = .strings(values)
                }
            }
            return wire
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        // A non-finite score has no JSON number; it is written as the string the protocol's clients read.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let json = try encoder.encode(Wire(model_name: modelName, model_version: modelVersion, id: id, outputs: outputs))
        var fields = HTTPFields()
        if self.outputs.contains(where: \.binary) {
            fields[.contentType] = "application/octet-stream"
            fields[HTTPField.Name(InferenceRequest.headerLengthField)!] = "\(json.count)"
            return HTTPServerResponse(status: .ok, headerFields: fields, body: json + binary)
        }
        fields[.contentType] = "application/json"
        return HTTPServerResponse(status: .ok, headerFields: fields, body: json)
    }

    /// The classification extension's elements for one row of scores: the `count` highest as
    /// "value:index:label", highest first, values printed as C's `%f` (Triton's `std::to_string`).
    static func classifications(_ scores: ArraySlice<Float>, labels: [String], count: Int) -> [String] {
        let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        return order.prefix(count).map { index in
            let position = index - scores.startIndex
            let label = position < labels.count ? ":\(labels[position])" : ""
            return String(format: "%f", scores[index]) + ":\(position)" + label
        }
    }
}
