import Foundation

/// The safetensors format: an 8-byte little-endian header length, a JSON header mapping each
/// tensor name to its dtype, shape and byte range, then the raw little-endian data.
public enum Safetensors {
    public struct FormatError: Error, CustomStringConvertible {
        public let description: String
    }

    private struct Entry: Codable {
        var dtype: String
        var shape: [Int]
        var data_offsets: [Int]
    }

    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: Any] = [:]
        var body = Data()
        for name in tensors.keys.sorted() {
            let t = tensors[name]!
            let start = body.count
            t.scalars.withUnsafeBufferPointer { body.append(UnsafeBufferPointer(start: UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: UInt8.self), count: $0.count * 4)) }
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [start, body.count]]
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad the header with spaces so the data starts 8-byte aligned, as the format recommends.
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var length = UInt64(json.count).littleEndian
        var out = Data(bytes: &length, count: 8)
        out.append(json)
        out.append(body)
        return out
    }

    public static func decode(_ data: Data) throws -> [String: Tensor] {
        guard data.count >= 8 else { throw FormatError(description: "safetensors file shorter than its header length") }
        let length = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard length <= UInt64(data.count - 8), length < 100_000_000 else {
            throw FormatError(description: "safetensors header length \(length) exceeds the file")
        }
        let headerData = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + 8 + Int(length)))
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw FormatError(description: "safetensors header is not a JSON object")
        }
        let bodyStart = data.startIndex + 8 + Int(length)
        let bodyCount = data.count - 8 - Int(length)
        var tensors: [String: Tensor] = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw FormatError(description: "tensor '\(name)' has a malformed entry")
            }
            guard dtype == "F32" else { throw FormatError(description: "tensor '\(name)' is \(dtype); only F32 is supported") }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= bodyCount,
                  let count = shape.reduce(Optional(1), { a, b in
                      a.flatMap { let (p, overflow) = $0.multipliedReportingOverflow(by: b); return overflow ? nil : p }
                  }),
                  offsets[1] - offsets[0] == count * 4 else {
                throw FormatError(description: "tensor '\(name)' has shape \(shape) but byte range \(offsets)")
            }
            var scalars = [Float](repeating: 0, count: count)
            _ = scalars.withUnsafeMutableBytes { dst in
                data.copyBytes(to: dst, from: (bodyStart + offsets[0])..<(bodyStart + offsets[1]))
            }
            tensors[name] = Tensor(shape: shape, scalars: scalars)
        }
        return tensors
    }
}
