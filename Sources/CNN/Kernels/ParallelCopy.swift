/// Copies `count` floats split across the engine's threads. A reshape or a concatenation is a
/// lone copy of a whole activation, which on one thread left the other cores idle for a tenth
/// of ShuffleNet.
func copyInParallel(_ destination: UnsafeMutablePointer<Float>, from source: UnsafePointer<Float>, count: Int) {
    parallelFor(count, cost: 1, minimumChunk: 4096) { range in
        (destination + range.lowerBound).update(from: source + range.lowerBound, count: range.count)
    }
}
