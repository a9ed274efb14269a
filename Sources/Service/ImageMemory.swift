import Foundation

/// The memory that images being decoded, preprocessed and rendered hold at once, across every
/// request (`max_image_memory_bytes`). Each image reserves what its headers say it will cost
/// (`DecodePlan.peakBytes` and the like) before a pixel buffer exists; when the budget is
/// spoken for, it waits for other images to finish, and past `maxWait` seconds it gets 503.
/// So a crowd of large images costs time, never memory beyond the budget.
final class ImageMemory: @unchecked Sendable {
    let capacity: Int
    private let maxWait: Double
    private let condition = NSCondition()
    private var reserved = 0
    private var highWater = 0

    init(capacity: Int, maxWait: Double = 10) {
        self.capacity = capacity
        self.maxWait = maxWait
    }

    /// Runs `body` while `bytes` are reserved.
    func withReservation<T>(_ bytes: Int, _ body: () throws -> T) throws -> T {
        let bytes = max(bytes, 0)
        guard bytes <= capacity else {
            throw BudgetError.exceeded("this image needs about \(megabytes(bytes)) MB to decode and prepare; images may "
                + "hold \(megabytes(capacity)) MB at once", setting: "max_image_memory_bytes", code: "image_too_large")
        }
        condition.lock()
        let deadline = Date(timeIntervalSinceNow: maxWait)
        while reserved + bytes > capacity {
            guard condition.wait(until: deadline) else {
                condition.unlock()
                throw BudgetError.busy("other images fill the memory set aside for decoding", setting: "max_image_memory_bytes")
            }
        }
        reserved += bytes
        highWater = max(highWater, reserved)
        condition.unlock()
        defer {
            condition.lock()
            reserved -= bytes
            condition.broadcast()
            condition.unlock()
        }
        return try body()
    }

    /// Bytes reserved now, and the most ever reserved at once.
    var usage: (reserved: Int, highWater: Int) { condition.withLock { (reserved, highWater) } }
}

func megabytes(_ bytes: Int) -> String {
    String(format: "%.1f", Double(bytes) / 1_048_576)
}
