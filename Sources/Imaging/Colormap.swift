/// Matplotlib's colormaps, sampled at 256 levels exactly as matplotlib does.
public enum Colormap: String, Codable, Sendable, CaseIterable {
    case gray
    case viridis
    case inferno
    case magma
    case jet

    /// 256 entries of (r, g, b), parsed once from the generated hex tables.
    public var table: [UInt8] { Self.tables[self]! }

    /// The color for a value in [0, 1], indexed like matplotlib: `min(Int(value * 256), 255)`;
    /// values outside the range take the end colors, NaN takes the low end.
    public func color(_ value: Float) -> (red: UInt8, green: UInt8, blue: UInt8) {
        let index = Self.index(value)
        let table = table
        return (table[index * 3], table[index * 3 + 1], table[index * 3 + 2])
    }

    @inline(__always)
    static func index(_ value: Float) -> Int {
        guard value > 0 else { return 0 }  // also NaN
        return value >= 1 ? 255 : min(Int(value * 256), 255)
    }

    private static let tables = Dictionary(uniqueKeysWithValues: allCases.map { ($0, parse($0.hex)) })

    private var hex: String {
        switch self {
        case .gray: ColormapTables.gray
        case .viridis: ColormapTables.viridis
        case .inferno: ColormapTables.inferno
        case .magma: ColormapTables.magma
        case .jet: ColormapTables.jet
        }
    }

    private static func parse(_ hex: String) -> [UInt8] {
        let digits = hex.utf8.map { $0 <= 0x39 ? $0 - 0x30 : $0 - 0x61 + 10 }
        let table = stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
        precondition(table.count == 768, "a colormap table holds 256 RGB entries")
        return table
    }
}
