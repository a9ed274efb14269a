/// JPEG files written marker by marker, for attacks no encoder produces: a header that declares
/// far more pixels than the scan holds, a progressive file of hundreds of scans.
///
/// The files are grayscale with one-code Huffman tables: the DC table's only code, `0`, means
/// "no change", the AC table's only code, `0`, means "end of block". Every block is then two
/// bits in a baseline scan, one bit in a progressive scan: a uniform gray picture.
public enum HostileJPEG {
    /// A baseline file whose frame header declares `width` x `height` but whose scan holds only
    /// `blocks` 8x8 blocks, then the end marker: 16x16 pixels' worth of data (4 blocks) under a
    /// 6000x6000 header is the classic 600-byte decompression bomb.
    public static func truncatedScan(width: Int, height: Int, blocks: Int) -> [UInt8] {
        var file = start(width: width, height: height, progressive: false)
        file += huffmanTable(class: 0) + huffmanTable(class: 1)
        file += scan(start: 0, end: 63)
        file += entropyData(bits: 2 * blocks)
        return file + [0xFF, 0xD9]
    }

    /// A complete, valid file of `width` x `height` gray pixels in the same style.
    public static func complete(width: Int, height: Int) -> [UInt8] {
        truncatedScan(width: width, height: height, blocks: blockCount(width: width, height: height))
    }

    /// A valid progressive file: a DC scan, then `scans - 1` first scans of the AC band 1-63,
    /// each one "end of block" everywhere. libjpeg accepts a band coded again by a first scan
    /// at the same precision, so every scan decodes and only their number is hostile.
    public static func progressive(width: Int, height: Int, scans: Int) -> [UInt8] {
        let blocks = blockCount(width: width, height: height)
        var file = start(width: width, height: height, progressive: true)
        file += huffmanTable(class: 0) + huffmanTable(class: 1)
        file += scan(start: 0, end: 0) + entropyData(bits: blocks)
        for _ in 1..<max(scans, 1) {
            file += scan(start: 1, end: 63) + entropyData(bits: blocks)
        }
        return file + [0xFF, 0xD9]
    }

    static func blockCount(width: Int, height: Int) -> Int {
        ((width + 7) / 8) * ((height + 7) / 8)
    }

    /// SOI, a quantization table of ones, and the frame header (SOF0 or SOF2, one component).
    private static func start(width: Int, height: Int, progressive: Bool) -> [UInt8] {
        var file: [UInt8] = [0xFF, 0xD8]
        file += [0xFF, 0xDB] + bigEndian(67, bytes: 2) + [0x00] + [UInt8](repeating: 1, count: 64)
        file += [0xFF, progressive ? 0xC2 : 0xC0] + bigEndian(11, bytes: 2) + [8]
        file += bigEndian(height, bytes: 2) + bigEndian(width, bytes: 2)
        file += [1, 1, 0x11, 0]
        return file
    }

    /// One code of length 1 for symbol 0, in table `class` (0 DC, 1 AC), id 0.
    private static func huffmanTable(class tableClass: UInt8) -> [UInt8] {
        [0xFF, 0xC4] + bigEndian(2 + 1 + 16 + 1, bytes: 2) + [tableClass << 4] + [1] + [UInt8](repeating: 0, count: 15) + [0]
    }

    private static func scan(start: UInt8, end: UInt8) -> [UInt8] {
        [0xFF, 0xDA] + bigEndian(8, bytes: 2) + [1, 1, 0x00, start, end, 0x00]
    }

    /// `bits` zero bits, padded with ones to a whole byte as JPEG requires.
    private static func entropyData(bits: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: bits / 8)
        if bits % 8 != 0 { bytes.append(0xFF >> UInt8(bits % 8)) }
        return bytes
    }
}
