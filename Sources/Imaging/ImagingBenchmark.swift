import Foundation

/// Decode + `imagenet` preprocessing of a 12-megapixel camera-like JPEG, the work done for
/// every classification request; `salient bench` prints the result.
public enum ImagingBenchmark {
    public static func run(iterations: Int = 10) throws -> String {
        let jpeg = try JPEGEncoder.encode(syntheticPhoto(width: 4000, height: 3000))
        let steps = Preprocessing.imagenet
        let reduced = steps.minimumDecodedShorterSide

        let full = try median(iterations) { _ = try steps.apply(to: ImageDecoder.decode(jpeg)) }
        let fullDecode = try median(iterations) { _ = try ImageDecoder.decode(jpeg) }
        let scaled = try median(iterations) { _ = try steps.apply(to: ImageDecoder.decode(jpeg, minimumShorterSide: reduced)) }
        let scaledImage = try ImageDecoder.decode(jpeg, minimumShorterSide: reduced)

        let exact = try steps.apply(to: ImageDecoder.decode(jpeg)).values
        let approximate = try steps.apply(to: scaledImage).values
        let difference = zip(exact, approximate).reduce(0) { $0 + Double(abs($1.0 - $1.1)) } / Double(exact.count)

        // A 224x224 saliency map drawn over the full-size photo, as the saliency route answers.
        let photo = try ImageDecoder.decode(jpeg)
        let map = try Heatmap(width: 224, height: 224, values: (0..<(224 * 224)).map { Float(($0 * 7919) % 1000) })
        let renderer = HeatmapRenderer()
        let render = try median(iterations) { _ = try renderer.render(map, on: photo) }

        return """
            imaging: 4000x3000 JPEG (\(jpeg.count / 1024) KiB, quality 90, 4:2:0) to imagenet input, median of \(iterations)
              full-size decode + preprocess:  \(format(full)) ms (decode alone \(format(fullDecode)) ms)
              DCT-scaled decode to \(scaledImage.width)x\(scaledImage.height) + preprocess: \(format(scaled)) ms \
            (mean |difference| \(String(format: "%.4f", difference)) in normalized units)
              224x224 saliency map drawn over the 4000x3000 photo: \(format(render)) ms
            """
    }

    private static func median(_ iterations: Int, _ body: () throws -> Void) throws -> Double {
        try body()  // warm-up: page faults and lazy initialisation are not the steady state
        var times: [Double] = []
        for _ in 0..<max(iterations, 1) {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        return times.sorted()[times.count / 2]
    }

    private static func format(_ milliseconds: Double) -> String { String(format: "%.1f", milliseconds) }

    /// Smooth shading with fine luminance texture, so the JPEG is about as large as a
    /// camera's (3 to 4 MiB) rather than a flat color's few kilobytes.
    private static func syntheticPhoto(width: Int, height: Int) throws -> Image {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        var noise: UInt32 = 0x9E37_79B9
        for y in 0..<height {
            for x in 0..<width {
                noise ^= noise << 13
                noise ^= noise >> 17
                noise ^= noise << 5
                let texture = Int(noise & 15)
                let i = (y * width + x) * 3
                pixels[i] = UInt8(truncatingIfNeeded: (x * 255 / width + texture) & 0xFF)
                pixels[i + 1] = UInt8(truncatingIfNeeded: (y * 255 / height + texture) & 0xFF)
                pixels[i + 2] = UInt8(truncatingIfNeeded: ((x + y) / 16 + texture) & 0xFF)
            }
        }
        return try Image(width: width, height: height, channels: 3, pixels: pixels)
    }
}
