import CNN
import Foundation
import HTTPServer

/// An Open Inference Protocol inference request as it arrives over HTTP: a JSON header, then the
/// binary data of the inputs that declare `binary_data_size`, in their order (the binary tensor
/// data extension). The body's first `Inference-Header-Content-Length` bytes are the JSON; without
/// that header the whole body is. Only FP32 and BYTES elements are read: the other types are
/// named in the request and refused when it is bound to a model.
struct InferenceRequest {
    struct Input {
        var name: String
        var shape: [Int]
        var datatype: TensorDatatype
        var values: Values
    }

    enum Values {
        case fp32([Float])
        case bytes([Data])
        /// A type this service never takes; its data is not read.
        case unread
    }

    struct RequestedOutput {
        var name: String
        /// The output's own choice of binary data; nil leaves it to `binary_data_output`.
        var binaryData: Bool?
        /// The classification extension: the top `classification` classes instead of the tensor.
        var classification: Int?
    }

    var id: String?
    var inputs: [Input]
    /// Nil asks for every output.
    var outputs: [RequestedOutput]?
    /// Outputs not asking otherwise come back as binary data.
    var binaryDataOutput: Bool

    /// The header field that gives the JSON's length when binary data follows it.
    static let headerLengthField = "Inference-Header-Content-Length"

    /// How much one request may carry, from the model it is for: checked before the values are
    /// decoded, because decoding JSON holds some twenty bytes per value (a 58 MB body of zeros
    /// took 1.4 GB), and a BYTES element costs its bookkeeping however short it is.
    struct Limits {
        /// Values of all inputs together: `max_batch_size` inputs of the model.
        var maxValues: Int
        /// BYTES elements: one encoded image per batch entry.
        var maxByteElements: Int
        /// The setting that raises both.
        var setting: String
    }

    /// Parses `body`, whose JSON part is `headerLength` bytes long (nil: all of it). A raw binary
    /// request (`headerLength` 0) has no JSON at all; its one input is described by the model, so
    /// the caller builds it with `raw(_:input:shape:)`.
    static func parse(_ body: Data, headerLength: Int?, limits: Limits) throws -> InferenceRequest {
        let jsonLength = headerLength ?? body.count
        guard jsonLength > 0, jsonLength <= body.count else {
            throw ServiceError.badParameter("\(headerLengthField) is \(jsonLength) but the body has \(body.count) bytes")
        }
        try checkValueCount(body.prefix(jsonLength), limits: limits)
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: body.prefix(jsonLength))
        } catch let error as DecodingError {
            throw ServiceError.badParameter("the inference request is not valid: \(error.problem)")
        }
        guard !wire.inputs.isEmpty else { throw ServiceError.badParameter("the inference request has no inputs") }
        var offset = body.startIndex + jsonLength
        var inputs: [Input] = []
        for input in wire.inputs {
            let elements = try elementCount(input.shape, of: input.name)
            let limit = input.datatype == .bytes ? limits.maxByteElements : limits.maxValues
            guard elements <= limit else {
                throw BudgetError.exceeded("input '\(input.name)' has shape \(input.shape): \(elements) elements; this model takes at "
                    + "most \(limit) in one request", setting: limits.setting, status: .contentTooLarge, code: "too_many_values")
            }
            if let size = input.binaryDataSize {
                guard size >= 0, size <= body.endIndex - offset else {
                    throw ServiceError.badParameter("input '\(input.name)' declares \(size) bytes of binary data but "
                        + "\(body.endIndex - offset) remain in the body")
                }
                guard input.data == nil else {
                    throw ServiceError.badParameter("input '\(input.name)' has both JSON data and binary_data_size")
                }
                let bytes = body[offset..<(offset + size)]
                offset += size
                inputs.append(Input(name: input.name, shape: input.shape, datatype: input.datatype,
                                    values: try binaryValues(bytes, of: input, elements: elements)))
            } else {
                inputs.append(Input(name: input.name, shape: input.shape, datatype: input.datatype,
                                    values: try jsonValues(of: input, elements: elements)))
            }
        }
        guard offset == body.endIndex else {
            throw ServiceError.badParameter("\(body.endIndex - offset) bytes follow the inputs' binary data; "
                + "binary_data_size must account for every byte after the JSON")
        }
        let outputs = wire.outputs?.map {
            RequestedOutput(name: $0.name, binaryData: $0.parameters?["binary_data"]?.bool,
                            classification: $0.parameters?["classification"]?.integer)
        }
        if let names = outputs?.map(\.name), let repeated = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
            throw ServiceError.badParameter("output '\(repeated)' is requested twice")
        }
        if let bad = outputs?.first(where: { ($0.classification ?? 1) < 1 }) {
            throw ServiceError.badParameter("output '\(bad.name)': classification must be a whole number of classes from 1")
        }
        return InferenceRequest(id: wire.id, inputs: inputs, outputs: outputs,
                                binaryDataOutput: wire.parameters?["binary_data_output"]?.bool ?? false)
    }

    /// A raw binary request: the whole body is the data of the model's one input, batch 1; every
    /// output comes back as binary data.
    static func raw(_ body: Data, input: String, shape: [Int]) throws -> InferenceRequest {
        let elements = shape.reduce(1, *)
        guard body.count == elements * 4 else {
            throw ServiceError.badParameter("a raw binary request carries the input '\(input)' alone: \(elements * 4) bytes "
                + "of FP32 for shape \(shape), not \(body.count)")
        }
        return InferenceRequest(id: nil, inputs: [Input(name: input, shape: shape, datatype: .fp32,
                                                        values: .fp32(littleEndianFloats(body)))],
                                outputs: nil, binaryDataOutput: true)
    }

    /// The product of a request's dimensions, each non-negative, without overflow.
    static func elementCount(_ shape: [Int], of name: String) throws -> Int {
        var count = 1
        for dimension in shape {
            guard dimension >= 0 else {
                throw ServiceError.badParameter("input '\(name)' has shape \(shape): a request's dimensions are not negative")
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= Int(Int32.max) else {
                throw ServiceError.badParameter("input '\(name)' has shape \(shape), more elements than any model takes")
            }
            count = product
        }
        return count
    }

    private static func binaryValues(_ bytes: Data, of input: WireInput, elements: Int) throws -> Values {
        switch input.datatype {
        case .fp32:
            guard bytes.count == elements * 4 else {
                throw ServiceError.badParameter("input '\(input.name)' has shape \(input.shape): \(elements * 4) bytes of FP32, "
                    + "but binary_data_size is \(bytes.count)")
            }
            return .fp32(littleEndianFloats(bytes))
        case .bytes:
            let elementsRead = try byteStrings(bytes, of: input.name, atMost: elements)
            guard elementsRead.count == elements else {
                throw ServiceError.badParameter("input '\(input.name)' has shape \(input.shape) (\(elements) elements) but its "
                    + "binary data holds \(elementsRead.count)")
            }
            return .bytes(elementsRead)
        default:
            return .unread
        }
    }

    private static func jsonValues(of input: WireInput, elements: Int) throws -> Values {
        guard let data = input.data else {
            throw ServiceError.badParameter("input '\(input.name)' has neither data nor binary_data_size")
        }
        let values: Values
        switch data {
        case let .numbers(numbers): values = .fp32(numbers)
        case let .strings(strings):
            if input.parameters?["content_type"]?.string == "base64" {
                values = .bytes(try strings.map {
                    guard let decoded = Data(base64Encoded: $0) else {
                        throw ServiceError.badParameter("input '\(input.name)' says content_type base64 but holds a string that is not")
                    }
                    return decoded
                })
            } else {
                values = .bytes(strings.map { Data($0.utf8) })
            }
        case .unread: return .unread
        }
        let count: Int
        switch values {
        case let .fp32(numbers): count = numbers.count
        case let .bytes(strings): count = strings.count
        case .unread: count = elements
        }
        guard count == elements else {
            throw ServiceError.badParameter("input '\(input.name)' has shape \(input.shape) (\(elements) elements) but \(count) values")
        }
        return values
    }

    /// Refuses, before it is parsed, JSON that holds more values than `limits` allow (and a
    /// little more, for the fields around them).
    static func checkValueCount(_ json: Data, limits: Limits) throws {
        let values = valueCount(json)
        guard values <= limits.maxValues + 1024 else {
            throw BudgetError.exceeded("the request's JSON holds \(values) values; this model takes at most \(limits.maxValues) in "
                + "one request", setting: limits.setting, status: .contentTooLarge, code: "too_many_values")
        }
    }

    /// An upper bound on the values a JSON text holds, without parsing it: its commas outside
    /// strings, plus one.
    static func valueCount(_ json: Data) -> Int {
        json.withUnsafeBytes { raw in
            var commas = 0, inString = false, escaped = false
            for byte in raw {
                if inString {
                    if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                } else if byte == UInt8(ascii: "\"") {
                    inString = true
                } else if byte == UInt8(ascii: ",") {
                    commas += 1
                }
            }
            return commas + 1
        }
    }

    /// Reads little-endian FP32 elements.
    static func littleEndianFloats(_ bytes: Data) -> [Float] {
        bytes.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    /// Splits BYTES binary data into its elements: each a 4-byte little-endian length and the
    /// bytes. More than `atMost` is an error found before they are all split.
    static func byteStrings(_ bytes: Data, of name: String, atMost: Int) throws -> [Data] {
        var elements: [Data] = []
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            guard elements.count < atMost else {
                throw ServiceError.badParameter("input '\(name)': its binary data holds more than the \(atMost) BYTES elements of its shape")
            }
            guard bytes.endIndex - offset >= 4 else {
                throw ServiceError.badParameter("input '\(name)': BYTES data ends inside an element's 4-byte length")
            }
            let length = bytes[offset..<(offset + 4)].withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self))) }
            offset += 4
            guard length <= bytes.endIndex - offset else {
                throw ServiceError.badParameter("input '\(name)': a BYTES element declares \(length) bytes but "
                    + "\(bytes.endIndex - offset) remain")
            }
            elements.append(Data(bytes[offset..<(offset + length)]))
            offset += length
        }
        return elements
    }
}

extension InferenceRequest {
    /// The request's JSON, as far as this service reads it.
    struct Wire: Decodable {
        var id: String?
        var parameters: [String: JSONValue]?
        var inputs: [WireInput]
        var outputs: [WireOutput]?

        enum CodingKeys: String, CodingKey { case id, parameters, inputs, outputs }

        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            // Clients send the id as a string; a number is taken as its text.
            if let text = try? container.decodeIfPresent(String.self, forKey: .id) {
                id = text
            } else {
                id = try container.decodeIfPresent(Int.self, forKey: .id).map(String.init)
            }
            parameters = try container.decodeIfPresent([String: JSONValue].self, forKey: .parameters)
            inputs = try container.decode([WireInput].self, forKey: .inputs)
            outputs = try container.decodeIfPresent([WireOutput].self, forKey: .outputs)
        }
    }

    struct WireInput: Decodable {
        var name: String
        var shape: [Int]
        var datatype: TensorDatatype
        var parameters: [String: JSONValue]?
        var data: WireData?

        var binaryDataSize: Int? { parameters?["binary_data_size"]?.integer }

        enum CodingKeys: String, CodingKey { case name, shape, datatype, parameters, data }

        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            shape = try container.decode([Int].self, forKey: .shape)
            let type = try container.decode(String.self, forKey: .datatype)
            guard let datatype = TensorDatatype(rawValue: type) else {
                throw DecodingError.dataCorruptedError(forKey: .datatype, in: container, debugDescription:
                    "'\(type)' is not a datatype; the protocol's are " + TensorDatatype.allCases.map(\.rawValue).joined(separator: ", "))
            }
            self.datatype = datatype
            parameters = try container.decodeIfPresent([String: JSONValue].self, forKey: .parameters)
            guard container.contains(.data) else { return }
            switch datatype {
            case .fp32: data = .numbers(try container.decode(FlatNumbers.self, forKey: .data).values)
            case .bytes: data = .strings(try container.decode(FlatStrings.self, forKey: .data).values)
            default: data = .unread
            }
        }
    }

    enum WireData {
        case numbers([Float])
        case strings([String])
        case unread
    }

    struct WireOutput: Decodable {
        var name: String
        var parameters: [String: JSONValue]?
    }

    /// Numbers flattened in row-major order: the protocol allows a flat array or arrays nested
    /// as the shape.
    struct FlatNumbers: Decodable {
        var values: [Float] = []

        init(from decoder: Decoder) throws {
            if let flat = try? decoder.singleValueContainer().decode([Float].self) {
                values = flat
                return
            }
            var container = try decoder.unkeyedContainer()
            while !container.isAtEnd {
                if let number = try? container.decode(Float.self) {
                    values.append(number)
                } else {
                    values += try container.decode(FlatNumbers.self).values
                }
            }
        }
    }

    /// Strings flattened the same way.
    struct FlatStrings: Decodable {
        var values: [String] = []

        init(from decoder: Decoder) throws {
            if let flat = try? decoder.singleValueContainer().decode([String].self) {
                values = flat
                return
            }
            var container = try decoder.unkeyedContainer()
            while !container.isAtEnd {
                if let string = try? container.decode(String.self) {
                    values.append(string)
                } else {
                    values += try container.decode(FlatStrings.self).values
                }
            }
        }
    }
}

extension JSONValue {
    var bool: Bool? {
        if case let .bool(value) = self { return value }
        return nil
    }

    /// A whole number, however the JSON wrote it.
    var integer: Int? {
        guard case let .number(value) = self, value == value.rounded(), abs(value) < 9e15 else { return nil }
        return Int(value)
    }

    var string: String? {
        if case let .string(value) = self { return value }
        return nil
    }
}
