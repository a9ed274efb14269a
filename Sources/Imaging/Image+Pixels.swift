extension Image {
    /// Every sample replaced by 255 minus itself (alpha included).
    public func inverted() -> Image {
        Image(unchecked: width, height, channels, pixels.map { 255 - $0 })
    }

    /// The mean sample over the outermost rows and columns, color channels only: what the
    /// picture's background looks like.
    var borderMean: Double {
        let colorChannels = hasAlpha ? channels - 1 : channels
        var total = 0, count = 0
        for y in 0..<height {
            let columns = y == 0 || y == height - 1 ? Array(0..<width) : (width > 1 ? [0, width - 1] : [0])
            for x in columns {
                let base = (y * width + x) * channels
                for c in 0..<colorChannels { total += Int(pixels[base + c]) }
                count += colorChannels
            }
        }
        return Double(total) / Double(count)
    }
}
