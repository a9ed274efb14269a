import Foundation

/// The bytes of request bodies a server holds at once, across every connection: each body
/// reserves its bytes as they arrive and gives them back when its handler is done, so no number
/// of connections or queued requests can hold more than `limit`.
final class BodyBudget: @unchecked Sendable {
    let limit: Int
    private let lock = NSLock()
    private var used = 0

    init(limit: Int) {
        self.limit = limit
    }

    /// The bytes held now.
    var inUse: Int { lock.withLock { used } }

    /// Whether `bytes` more would fit now: a declared length that would not is refused on its head.
    func hasRoom(for bytes: Int) -> Bool {
        lock.withLock { bytes <= limit - used }
    }

    /// Takes `bytes` if they fit.
    fileprivate func take(_ bytes: Int) -> Bool {
        lock.withLock {
            guard bytes <= limit - used else { return false }
            used += bytes
            return true
        }
    }

    fileprivate func give(_ bytes: Int) {
        lock.withLock { used -= bytes }
    }
}

/// One request's share of a `BodyBudget`, returned when it is released or dropped, whichever
/// comes first, so that a request lost with its connection cannot leak budget.
final class BodyReservation: @unchecked Sendable {
    private let budget: BodyBudget
    private let lock = NSLock()
    private var bytes = 0

    init(budget: BodyBudget) {
        self.budget = budget
    }

    /// Reserves `count` more bytes; false, and nothing reserved, when the budget has no room.
    func grow(by count: Int) -> Bool {
        guard count > 0 else { return true }
        guard budget.take(count) else { return false }
        lock.withLock { bytes += count }
        return true
    }

    func release() {
        let held = lock.withLock {
            defer { bytes = 0 }
            return bytes
        }
        if held > 0 { budget.give(held) }
    }

    deinit { release() }
}
