import CZlib
import Foundation

/// Reads the IDX files of MNIST and Fashion-MNIST, gzip-compressed as Debian ships them.
public enum IDX {
    public struct FormatError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Images [N, 1, rows, cols] scaled to [0, 1] and their labels.
    public static func load(images: URL, labels: URL, limit: Int? = nil) throws -> LabeledImages {
        let imageBytes = try gunzip(Data(contentsOf: images))
        let labelBytes = try gunzip(Data(contentsOf: labels))
        guard imageBytes.count >= 16, header(imageBytes, 0) == 0x0803 else {
            throw FormatError(description: "\(images.lastPathComponent) is not an IDX image file")
        }
        guard labelBytes.count >= 8, header(labelBytes, 0) == 0x0801 else {
            throw FormatError(description: "\(labels.lastPathComponent) is not an IDX label file")
        }
        let total = header(imageBytes, 4), rows = header(imageBytes, 8), cols = header(imageBytes, 12)
        guard header(labelBytes, 4) == total, imageBytes.count >= 16 + total * rows * cols, labelBytes.count >= 8 + total else {
            throw FormatError(description: "\(images.lastPathComponent) and \(labels.lastPathComponent) disagree or are truncated")
        }
        let n = min(limit ?? total, total)
        let size = rows * cols
        let pixels = [UInt8](imageBytes), labelValues = [UInt8](labelBytes)
        let scalars = (0..<(n * size)).map { Float(pixels[16 + $0]) / 255 }
        let labelList = (0..<n).map { Int(labelValues[8 + $0]) }
        return LabeledImages(images: Tensor(shape: [n, 1, rows, cols], scalars: scalars), labels: labelList)
    }

    private static func header(_ data: Data, _ offset: Int) -> Int {
        (0..<4).reduce(0) { $0 << 8 | Int(data[data.startIndex + offset + $1]) }
    }

    /// Inflates a gzip stream (or returns uncompressed data unchanged).
    static func gunzip(_ data: Data) throws -> Data {
        guard data.starts(with: [0x1F, 0x8B]) else { return data }
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw FormatError(description: "zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var output = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var status: Int32 = Z_OK
        var input = [UInt8](data)
        input.withUnsafeMutableBufferPointer { inBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = uInt(inBuffer.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(out.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    output.append(out.baseAddress!, count: out.count - Int(stream.avail_out))
                }
            } while status == Z_OK
        }
        guard status == Z_STREAM_END else { throw FormatError(description: "corrupt gzip stream (zlib status \(status))") }
        return output
    }
}

/// Fashion-MNIST as Debian's dataset-fashion-mnist installs it.
public enum FashionMNIST {
    public static let directory = URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist")
    public static let labels = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    public static func load(training: Bool, limit: Int? = nil, directory: URL = directory) throws -> LabeledImages {
        let prefix = training ? "train" : "t10k"
        return try IDX.load(images: directory.appendingPathComponent("\(prefix)-images-idx3-ubyte.gz"),
                            labels: directory.appendingPathComponent("\(prefix)-labels-idx1-ubyte.gz"), limit: limit)
    }
}
