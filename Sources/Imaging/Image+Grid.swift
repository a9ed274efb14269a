extension Image {
    /// Images of one size and channel count laid out `columns` to a row, left to right and then
    /// top to bottom, with `gap` pixels of white between them (several saliency maps as one PNG).
    public static func grid(_ tiles: [Image], columns: Int, gap: Int = 4) throws -> Image {
        guard let first = tiles.first, columns >= 1, gap >= 0 else {
            throw ImagingError(.invalidArgument, "a grid needs at least one image and one column")
        }
        guard tiles.allSatisfy({ $0.width == first.width && $0.height == first.height && $0.channels == first.channels }) else {
            throw ImagingError(.invalidArgument, "the images of a grid must share their size and channels")
        }
        let (w, h, c) = (first.width, first.height, first.channels)
        let across = min(columns, tiles.count)
        let rows = (tiles.count + across - 1) / across
        let (width, height) = (across * w + (across - 1) * gap, rows * h + (rows - 1) * gap)
        var pixels = [UInt8](repeating: 255, count: width * height * c)
        for (k, tile) in tiles.enumerated() {
            let (x0, y0) = ((k % across) * (w + gap), (k / across) * (h + gap))
            for y in 0..<h {
                let destination = ((y0 + y) * width + x0) * c
                pixels.replaceSubrange(destination..<(destination + w * c), with: tile.pixels[(y * w * c)..<((y + 1) * w * c)])
            }
        }
        return try Image(width: width, height: height, channels: c, pixels: pixels)
    }
}
