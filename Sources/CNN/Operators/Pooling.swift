// What the 2-D pooling layers share: their output shape and a walk over every window.

/// Calls `body(planeOffset, outputIndex, input)` for every output of a pooling window.
func forEachWindow(_ input: Tensor, _ w: Window, _ body: (Int, Int, UnsafeBufferPointer<Float>) -> Void) {
    let planes = input.shape[0] * input.shape[1]
    let area = w.outputHeight * w.outputWidth
    input.scalars.withUnsafeBufferPointer { x in
        for p in 0..<planes {
            let plane = p * w.inputHeight * w.inputWidth
            for o in 0..<area { body(plane, p * area + o, x) }
        }
    }
}

/// The output shape of a 2-D pooling layer over one NCHW input.
func pooledShape(_ inputShapes: [[Int]], window: ([Int]) throws -> Window) throws -> [Int] {
    guard inputShapes.count == 1, inputShapes[0].count == 4 else {
        throw ShapeError("expects one NCHW input, got \(inputShapes)")
    }
    let shape = inputShapes[0]
    let w = try window(shape)
    return [shape[0], shape[1], w.outputHeight, w.outputWidth]
}
