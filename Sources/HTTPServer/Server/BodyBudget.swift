import Synchronization

/// The bytes of request bodies a server holds at once, across every connection: each body
/// reserves its bytes as they arrive and gives them back when its handler is done, so no number
/// of connections or queued requests can hold more than `limit`.
final class BodyBudget: Sendable {
    let limit: Int
    private let used = Mutex(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// The bytes held now.
    var inUse: Int { used.withLock { $0 } }

    /// Whether `bytes` more would fit now: a declared length that would not is refused on its head.
    func hasRoom(for bytes: Int) -> Bool {
        used.withLock { bytes <= limit - $0 }
    }

    /// Takes `bytes` if they fit.
    fileprivate func take(_ bytes: Int) -> Bool {
        used.withLock { used in
            guard bytes <= limit - used else { return false }
            used += bytes
            return true
        }
    }

    fileprivate func give(_ bytes: Int) {
        used.withLock { $0 -= bytes }
    }
}

/// One request's share of a `BodyBudget`, returned when it is released or dropped, whichever
/// comes first, so that a request lost with its connection cannot leak budget.
final class BodyReservation: Sendable {
    private let budget: BodyBudget
    private let bytes = Mutex(0)

    init(budget: BodyBudget) {
        self.budget = budget
    }

    /// Reserves `count` more bytes; false, and nothing reserved, when the budget has no room.
    func grow(by count: Int) -> Bool {
        guard count > 0 else { return true }
        guard budget.take(count) else { return false }
        bytes.withLock { $0 += count }
        return true
    }

    func release() {
        let held = bytes.withLock { bytes in
            defer { bytes = 0 }
            return bytes
        }
        if held > 0 { budget.give(held) }
    }

    deinit { release() }
}
