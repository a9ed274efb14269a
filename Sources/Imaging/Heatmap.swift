/// A single-channel float map (a saliency map, say), rows top to bottom.
public struct Heatmap: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let values: [Float]

    public init(width: Int, height: Int, values: [Float]) throws {
        guard width > 0, height > 0, width <= 65_535, height <= 65_535 else {
            throw ImagingError(.invalidArgument, "heatmap dimensions must be 1 to 65535, got \(width)x\(height)")
        }
        guard values.count == width * height else {
            throw ImagingError(.invalidArgument, "a \(width)x\(height) heatmap needs \(width * height) values, got \(values.count)")
        }
        self.init(unchecked: width, height, values)
    }

    init(unchecked width: Int, _ height: Int, _ values: [Float]) {
        self.width = width
        self.height = height
        self.values = values
    }

    /// Bilinear resampling (pixel centers aligned, edges clamped, as `align_corners=False`)
    /// onto a width x height raster in which the map covers `region`; pixels outside the
    /// region are 0. By default the map covers the whole raster.
    public func resized(width: Int, height: Int, region: Preprocessing.Region? = nil) throws -> Heatmap {
        guard width > 0, height > 0, width <= 65_535, height <= 65_535 else {
            throw ImagingError(.invalidArgument, "target size must be 1 to 65535 a side, got \(width)x\(height)")
        }
        let region = region ?? Preprocessing.Region(x: 0, y: 0, width: Double(width), height: Double(height))
        guard region.width > 0, region.height > 0 else {
            throw ImagingError(.invalidArgument, "the heatmap region must have a positive size")
        }
        let columns = (0..<width).map { Self.sample(Double($0), start: region.x, length: region.width, size: self.width) }
        let rows = (0..<height).map { Self.sample(Double($0), start: region.y, length: region.height, size: self.height) }
        var out = [Float](repeating: 0, count: width * height)
        // Unchecked buffers: every index is clamped to the map or the raster above, and this
        // loop runs once per pixel of a full-size photo.
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { out in
                for (y, row) in rows.enumerated() {
                    guard let row else { continue }
                    let top = row.index * self.width, bottom = min(row.index + 1, self.height - 1) * self.width
                    for (x, column) in columns.enumerated() {
                        guard let column else { continue }
                        let right = min(column.index + 1, self.width - 1)
                        let upper = src[top + column.index] * (1 - column.fraction) + src[top + right] * column.fraction
                        let lower = src[bottom + column.index] * (1 - column.fraction) + src[bottom + right] * column.fraction
                        out[y * width + x] = upper * (1 - row.fraction) + lower * row.fraction
                    }
                }
            }
        }
        return Heatmap(unchecked: width, height, out)
    }

    /// Where output pixel `position` falls in the map: the left neighbour and the weight of
    /// the right one, or nil outside the covered region.
    private static func sample(_ position: Double, start: Double, length: Double, size: Int)
        -> (index: Int, fraction: Float)? {
        let center = position + 0.5
        guard center >= start, center < start + length else { return nil }
        let coordinate = min(max((center - start) * Double(size) / length - 0.5, 0), Double(size - 1))
        let index = Int(coordinate)
        return (index, Float(coordinate - Double(index)))
    }

    /// Colors the map, whose values should be normalized to [0, 1], as an RGB image.
    public func colorized(_ colormap: Colormap) -> Image {
        let table = colormap.table
        precondition(table.count == 256 * 3, "a colormap has 256 RGB entries")
        var pixels = [UInt8](repeating: 0, count: values.count * 3)
        // Unchecked buffers: `Colormap.index` is 0...255 and `pixels` has three bytes a value.
        table.withUnsafeBufferPointer { table in
            values.withUnsafeBufferPointer { values in
                pixels.withUnsafeMutableBufferPointer { pixels in
                    for (i, value) in values.enumerated() {
                        let entry = Colormap.index(value) * 3
                        pixels[i * 3] = table[entry]
                        pixels[i * 3 + 1] = table[entry + 1]
                        pixels[i * 3 + 2] = table[entry + 2]
                    }
                }
            }
        }
        return Image(unchecked: width, height, 3, pixels)
    }
}
