/// Numpy-style broadcasting of several shapes to one.
enum Broadcast {
    static func shape(_ shapes: [[Int]]) throws -> [Int] {
        let rank = shapes.map(\.count).max() ?? 0
        var result = [Int](repeating: 1, count: rank)
        for shape in shapes {
            let padded = [Int](repeating: 1, count: rank - shape.count) + shape
            for (i, d) in padded.enumerated() where d != 1 {
                guard result[i] == 1 || result[i] == d else {
                    throw ShapeError("shapes \(shapes) do not broadcast")
                }
                result[i] = d
            }
        }
        return result
    }

    /// When `shape`, right-aligned against `output`, differs from 1 only on one run of adjacent
    /// axes that match the output's, the output is [outer, mid, inner] and element (o, m, i)
    /// reads element m of the input: the per-channel scale and shift of an exported BatchNorm,
    /// or a scalar. Kernels then broadcast by looping, with no offsets table to build.
    static func run(of shape: [Int], in output: [Int]) -> (outer: Int, mid: Int, inner: Int)? {
        guard shape.count <= output.count else { return nil }
        let padded = [Int](repeating: 1, count: output.count - shape.count) + shape
        guard let first = padded.firstIndex(where: { $0 != 1 }), let last = padded.lastIndex(where: { $0 != 1 }) else {
            return (output.reduce(1, *), 1, 1)
        }
        guard padded[first...last] == output[first...last] else { return nil }
        return (output[..<first].reduce(1, *), output[first...last].reduce(1, *), output[(last + 1)...].reduce(1, *))
    }

    /// For each output element, the offset of the element of `shape` it reads.
    static func offsets(of shape: [Int], in output: [Int]) -> [Int] {
        let padded = [Int](repeating: 1, count: output.count - shape.count) + shape
        if padded == output { return Array(0..<output.reduce(1, *)) }
        let strides = Tensor.strides(of: padded).enumerated().map { padded[$0.offset] == 1 ? 0 : $0.element }
        return stridedOffsets(shape: output, strides: strides)
    }

    /// The offset `sum(index[i] * strides[i])` of every index of `shape`, in row-major order:
    /// how a broadcast or a permutation reads its input.
    static func stridedOffsets(shape: [Int], strides: [Int]) -> [Int] {
        var offsets = [Int](repeating: 0, count: shape.reduce(1, *))
        var index = [Int](repeating: 0, count: shape.count)
        var offset = 0
        for o in 0..<offsets.count {
            offsets[o] = offset
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                offset += strides[axis]
                if index[axis] < shape[axis] { break }
                offset -= strides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        return offsets
    }

    /// Sums a gradient of the broadcast shape back down to `shape`.
    static func reduce(_ gradient: Tensor, to shape: [Int]) -> Tensor {
        if gradient.shape == shape { return gradient }
        var result = Tensor(zeros: shape)
        let offsets = Broadcast.offsets(of: shape, in: gradient.shape)
        for (o, offset) in offsets.enumerated() { result.scalars[offset] += gradient.scalars[o] }
        return result
    }
}
