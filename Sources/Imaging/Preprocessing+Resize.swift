extension Preprocessing {
    /// How the image is brought to the model's size. In JSON:
    /// `{"mode": "exact", "width": 28, "height": 28}`, `{"mode": "shorter_side", "size": 256}`,
    /// `{"mode": "letterbox", "width": 28, "height": 28, "fill": 0}`.
    public enum Resize: Codable, Sendable, Equatable {
        /// Stretch to exactly this size.
        case exact(width: Int, height: Int)
        /// torchvision's `Resize(size)`: the shorter side becomes `size`, aspect kept.
        case shorterSide(Int)
        /// Fit inside the size keeping the aspect, pad the rest with `fill`.
        case letterbox(width: Int, height: Int, fill: UInt8)

        private enum CodingKeys: String, CodingKey {
            case mode, width, height, size, fill
        }

        public init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            switch try container.decode(String.self, forKey: .mode) {
            case "exact":
                self = .exact(width: try container.decode(Int.self, forKey: .width),
                              height: try container.decode(Int.self, forKey: .height))
            case "shorter_side":
                self = .shorterSide(try container.decode(Int.self, forKey: .size))
            case "letterbox":
                self = .letterbox(width: try container.decode(Int.self, forKey: .width),
                                  height: try container.decode(Int.self, forKey: .height),
                                  fill: try container.decodeIfPresent(UInt8.self, forKey: .fill) ?? 0)
            case let mode:
                throw DecodingError.dataCorruptedError(
                    forKey: .mode, in: container,
                    debugDescription: "unknown resize mode \"\(mode)\"; use exact, shorter_side or letterbox")
            }
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .exact(let width, let height):
                try container.encode("exact", forKey: .mode)
                try container.encode(width, forKey: .width)
                try container.encode(height, forKey: .height)
            case .shorterSide(let size):
                try container.encode("shorter_side", forKey: .mode)
                try container.encode(size, forKey: .size)
            case .letterbox(let width, let height, let fill):
                try container.encode("letterbox", forKey: .mode)
                try container.encode(width, forKey: .width)
                try container.encode(height, forKey: .height)
                try container.encode(fill, forKey: .fill)
            }
        }
    }
}
