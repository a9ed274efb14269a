/// Unaligned SIMD loads and stores of floats, and the lane interleave that the stride-2 kernels
/// (Winograd's transforms, 2x2 max pooling) need: the compiler vectorizes neither stride-2
/// reads nor interleaved writes on its own.

/// The vector those kernels step by: eight floats, one AVX register.
typealias Lanes = SIMD8<Float>
/// Two of them, loaded at once and split into `evenHalf` and `oddHalf`.
typealias PairedLanes = SIMD16<Float>

@inline(__always)
func loadLanes<V: SIMD>(_ p: UnsafePointer<Float>, as: V.Type = Lanes.self) -> V where V.Scalar == Float {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
}

@inline(__always)
func storeLanes<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<Float>) where V.Scalar == Float {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
}

/// even[0], odd[0], even[1], odd[1], ...: the inverse of `evenHalf` and `oddHalf`.
@inline(__always)
func interleaved(_ even: Lanes, _ odd: Lanes) -> PairedLanes {
    var pairs = PairedLanes()
    for i in 0..<Lanes.scalarCount {
        pairs[2 * i] = even[i]
        pairs[2 * i + 1] = odd[i]
    }
    return pairs
}
