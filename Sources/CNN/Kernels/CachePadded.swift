/// A value with a cache line of padding on either side, so that threads writing it do not
/// invalidate a neighbour that other threads read (false sharing). Between the two vCPUs of a
/// virtual machine a line can take a third of a microsecond to move.
struct CachePadded<Value: ~Copyable>: ~Copyable {
    private typealias Line = (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    private let before: Line = (0, 0, 0, 0, 0, 0, 0, 0)
    let value: Value
    private let after: Line = (0, 0, 0, 0, 0, 0, 0, 0)

    init(_ value: consuming Value) {
        self.value = value
    }
}

/// Padding adds nothing to share: a padded value is as sendable as the value.
extension CachePadded: Sendable where Value: Sendable & ~Copyable {}
