import Foundation

/// An uploaded, unpacked image dataset: one folder per class under `data/datasets/<id>/`.
public struct Dataset: Codable, Sendable {
    public var id: String
    public var classes: [String]
    public var counts: [String: Int]
    /// Archive entries that were not images (or not decodable) and were left out.
    public var skipped: Int
    public var created: Date

    package init(id: String, classes: [String], counts: [String: Int], skipped: Int, created: Date) {
        self.id = id
        self.classes = classes
        self.counts = counts
        self.skipped = skipped
        self.created = created
    }
}
