/// Channel conversions with Pillow's integer arithmetic, so an image reaches the model
/// exactly as `Image.convert` produced it during training.
public enum ColorConversion {
    /// Pillow's `convert("RGB")`: gray is replicated, alpha is dropped (not composited).
    public static func rgb(_ image: Image) -> Image {
        switch image.channels {
        case 3: return image
        case 4: return map(image, to: 3) { src, dst in dst[0] = src[0]; dst[1] = src[1]; dst[2] = src[2] }
        default: return map(image, to: 3) { src, dst in dst[0] = src[0]; dst[1] = src[0]; dst[2] = src[0] }
        }
    }

    /// Pillow's `convert("L")`: ITU-R 601-2 luma in 16-bit fixed point; alpha is dropped.
    public static func gray(_ image: Image) -> Image {
        switch image.channels {
        case 1: return image
        case 2: return map(image, to: 1) { src, dst in dst[0] = src[0] }
        default:
            return map(image, to: 1) { src, dst in
                let luma = Int(src[0]) * 19595 + Int(src[1]) * 38470 + Int(src[2]) * 7471 + 0x8000
                dst[0] = UInt8(truncatingIfNeeded: luma >> 16)
            }
        }
    }

    /// Pillow reads every CMYK JPEG as Adobe-inverted ("CMYK;I") and converts with
    /// R = (255 - K) - C * (255 - K) / 255, rounded as its MULDIV255 does.
    static func invertedCMYKToRGB(_ image: Image) -> Image {
        map(image, to: 3) { src, dst in
            let keep = Int(src[3])  // 255 - K, since the stored values are inverted
            for k in 0..<3 {
                let t = (255 - Int(src[k])) * keep + 128
                dst[k] = UInt8(truncatingIfNeeded: keep - ((t + (t >> 8)) >> 8))
            }
        }
    }

    @inline(__always)
    private static func map(_ image: Image, to channels: Int,
                            _ convert: (UnsafePointer<UInt8>, UnsafeMutablePointer<UInt8>) -> Void) -> Image {
        let count = image.width * image.height
        var out = [UInt8](repeating: 0, count: count * channels)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                var s = src.baseAddress!, d = dst.baseAddress!
                for _ in 0..<count {
                    convert(s, d)
                    s += image.channels
                    d += channels
                }
            }
        }
        return Image(unchecked: image.width, image.height, channels, out)
    }
}
