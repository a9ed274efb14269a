/// Unaligned SIMD loads and stores of floats, and the lane interleave that the stride-2 kernels
/// (Winograd's transforms, 2x2 max pooling) need: the compiler vectorizes neither stride-2
/// reads nor interleaved writes on its own.
@inline(__always)
func loadLanes<Lanes: SIMD>(_ p: UnsafePointer<Float>, as: Lanes.Type = Lanes.self) -> Lanes where Lanes.Scalar == Float {
    UnsafeRawPointer(p).loadUnaligned(as: Lanes.self)
}

@inline(__always)
func storeLanes<Lanes: SIMD>(_ v: Lanes, _ p: UnsafeMutablePointer<Float>) where Lanes.Scalar == Float {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self)
}

/// even[0], odd[0], even[1], odd[1], ...: the inverse of `evenHalf` and `oddHalf`.
@inline(__always)
func interleaved(_ even: SIMD4<Float>, _ odd: SIMD4<Float>) -> SIMD8<Float> {
    SIMD8(even[0], odd[0], even[1], odd[1], even[2], odd[2], even[3], odd[3])
}
