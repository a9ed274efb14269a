import CNN
import Foundation
import Imaging

/// A folder with one subfolder per class (torchvision's ImageFolder layout), decoded and
/// preprocessed into one tensor for training.
public struct ImageFolder {
    public let classes: [String]
    public let images: LabeledImages
    /// Files that did not decode as images.
    public let skipped: Int

    /// Classes are the subfolders in sorted order; files below a class folder, at any depth,
    /// belong to it; files that do not decode are skipped and counted. More files than
    /// `maxBytes` of decoded input can hold are refused before any is read.
    public init(directory: URL, preprocessing: Preprocessing, limits: DecodingLimits = DecodingLimits(),
                maxBytes: Int = .max) throws {
        let manager = FileManager.default
        let classes = try manager.contentsOfDirectory(atPath: directory.path).filter { name in
            var isDirectory: ObjCBool = false
            return !name.hasPrefix(".") && manager.fileExists(atPath: directory.appendingPathComponent(name).path, isDirectory: &isDirectory)
                && isDirectory.boolValue
        }.sorted()
        guard let shape = preprocessing.outputShape else {
            throw ImagingError(.invalidArgument, "the model's preprocessing has no fixed output size")
        }
        let filesByClass = classes.map { name in
            manager.enumerator(at: directory.appendingPathComponent(name), includingPropertiesForKeys: [.isRegularFileKey])?
                .compactMap { $0 as? URL }.filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
                .sorted { $0.path < $1.path } ?? []
        }
        let count = filesByClass.reduce(0) { $0 + $1.count }
        let bytes = Self.bytes(images: count, inputShape: Array(shape.dropFirst()))
        guard bytes <= maxBytes else {
            throw TrainingSetTooLarge(description: "\(count) images at input \(Array(shape.dropFirst())) take \(bytes) bytes decoded; "
                + "a training set may hold \(maxBytes) (setting max_training_set_bytes)")
        }
        var scalars: [Float] = []
        scalars.reserveCapacity(count * shape.dropFirst().reduce(1, *))
        var labels: [Int] = []
        var skipped = 0
        for (label, files) in filesByClass.enumerated() {
            for file in files {
                guard let image = try? ImageDecoder.decode(Data(contentsOf: file), limits: limits,
                                                           minimumShorterSide: preprocessing.minimumDecodedShorterSide),
                      let (values, _) = try? preprocessing.apply(to: image) else {
                    skipped += 1
                    continue
                }
                scalars += values
                labels.append(label)
            }
        }
        self.classes = classes
        self.skipped = skipped
        images = LabeledImages(images: Tensor(shape: [labels.count] + shape.dropFirst(), scalars: scalars), labels: labels)
    }

    /// The bytes `images` decoded inputs of `inputShape` take as Float32.
    public static func bytes(images: Int, inputShape: [Int]) -> Int {
        inputShape.reduce(images * 4) { total, side in
            let (product, overflow) = total.multipliedReportingOverflow(by: side)
            return overflow ? .max : product
        }
    }
}

/// A dataset whose decoded images would pass `max_training_set_bytes`.
public struct TrainingSetTooLarge: Error, CustomStringConvertible {
    public let description: String
}
