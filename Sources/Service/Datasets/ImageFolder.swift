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
    /// belong to it; files that do not decode are skipped and counted.
    public init(directory: URL, preprocessing: Preprocessing, limits: DecodingLimits = DecodingLimits()) throws {
        let manager = FileManager.default
        let classes = try manager.contentsOfDirectory(atPath: directory.path).filter { name in
            var isDirectory: ObjCBool = false
            return !name.hasPrefix(".") && manager.fileExists(atPath: directory.appendingPathComponent(name).path, isDirectory: &isDirectory)
                && isDirectory.boolValue
        }.sorted()
        guard let shape = preprocessing.outputShape else {
            throw ImagingError(.invalidArgument, "the model's preprocessing has no fixed output size")
        }
        var scalars: [Float] = []
        var labels: [Int] = []
        var skipped = 0
        for (label, name) in classes.enumerated() {
            let folder = directory.appendingPathComponent(name)
            let files = manager.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey])?
                .compactMap { $0 as? URL }.filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
                .sorted { $0.path < $1.path } ?? []
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
}
