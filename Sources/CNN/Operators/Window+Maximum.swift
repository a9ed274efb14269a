/// Which tap of a window holds its maximum: max pooling's backward routes each output's
/// gradient there.
extension Window {
    /// The plane offset of the first tap in scan order of an interior window that equals the
    /// window's maximum `y` (not NaN), without a data-dependent branch: which tap wins is
    /// unpredictable, so branching on it mispredicts about once a window.
    @inline(__always)
    func firstMaximum(_ x: UnsafePointer<Float>, _ oh: Int, _ ow: Int, equalTo y: Float) -> Int {
        let top = oh * stride.h - padTop, left = ow * stride.w - padLeft
        // Integer blends, as the compiler turns selects back into branches. No tap exceeds the
        // maximum and none is NaN (the maximum would be), so `>=` is equality.
        var best = 0
        var found = 0
        for i in 0..<kernel.h {
            let row = (top + i * dilation.h) * inputWidth + left
            for j in 0..<kernel.w {
                let index = row + j * dilation.w
                let hit = (x[index] >= y ? 1 : 0) & (1 - found)
                best = best &+ hit &* (index &- best)
                found |= hit
            }
        }
        return best
    }

    /// The plane offset of the first maximum in scan order (the last NaN if any) of any window;
    /// padding never wins.
    func anyWindowMaximum(_ x: UnsafePointer<Float>, _ oh: Int, _ ow: Int) -> Int {
        let top = oh * stride.h - padTop, left = ow * stride.w - padLeft
        var best = -1
        var bestValue = -Float.infinity
        for i in 0..<kernel.h {
            let ih = top + i * dilation.h
            guard ih >= 0 && ih < inputHeight else { continue }
            for j in 0..<kernel.w {
                let iw = left + j * dilation.w
                guard iw >= 0 && iw < inputWidth else { continue }
                let index = ih * inputWidth + iw
                let v = x[index]
                if best < 0 || v > bestValue || v.isNaN { best = index; bestValue = v }
            }
        }
        return best
    }
}
