import Foundation

/// Reading a description a person wrote: every key but the resize has a default (RGB, no
/// inversion, bilinear, `scale` 1/255, `mean` 0, `std` 1), and a wrong value says which values
/// are allowed.
extension Preprocessing {
    private enum CodingKeys: String, CodingKey {
        case color, invert, resize, interpolation, crop, scale, mean, std
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(color: try Self.choice(Color.self, .color, in: c) ?? .rgb,
                  invert: try Self.choice(Inversion.self, .invert, in: c) ?? .never,
                  resize: try c.decodeIfPresent(Resize.self, forKey: .resize),
                  interpolation: try Self.choice(Interpolation.self, .interpolation, in: c),
                  crop: try c.decodeIfPresent(Size.self, forKey: .crop),
                  scale: try c.decodeIfPresent(Float.self, forKey: .scale) ?? 1 / 255,
                  mean: try c.decodeIfPresent([Float].self, forKey: .mean) ?? [0],
                  std: try c.decodeIfPresent([Float].self, forKey: .std) ?? [1])
    }

    private static func choice<T: RawRepresentable & CaseIterable>(_ type: T.Type, _ key: CodingKeys,
                                                                   in container: KeyedDecodingContainer<CodingKeys>) throws -> T?
        where T.RawValue == String {
        guard let text = try container.decodeIfPresent(String.self, forKey: key) else { return nil }
        guard let value = T(rawValue: text) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw DecodingError.dataCorruptedError(forKey: key, in: container,
                                                   debugDescription: "\"\(text)\" is not one of \(allowed)")
        }
        return value
    }
}
