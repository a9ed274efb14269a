import CNN
import Foundation
import XCTest

/// y[s, o, h, w] = b[o] + Σ x[s, g·ci + i, h·sh + r - top, w·sw + c - left] · W[o, i, r, c], in
/// Double, where g is the group of output channel o and ci the input channels per group.
func convolutionDefinition(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), top: Int, left: Int,
                           groups: Int = 1, outputShape: [Int]) -> [Double] {
    let (n, channels, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (co, ci, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
    let (ho, wo) = (outputShape[2], outputShape[3])
    var y = [Double](repeating: 0, count: n * co * ho * wo)
    for s in 0..<n {
        for o in 0..<co {
            let firstChannel = o / (co / groups) * ci
            for oy in 0..<ho {
                for ox in 0..<wo {
                    var sum = Double(bias?.scalars[o] ?? 0)
                    for i in 0..<ci {
                        for r in 0..<kh {
                            let iy = oy * stride.0 + r - top
                            guard iy >= 0 && iy < h else { continue }
                            for c in 0..<kw {
                                let ix = ox * stride.1 + c - left
                                guard ix >= 0 && ix < w else { continue }
                                sum += Double(x.scalars[((s * channels + firstChannel + i) * h + iy) * w + ix])
                                    * Double(weight.scalars[((o * ci + i) * kh + r) * kw + c])
                            }
                        }
                    }
                    y[((s * co + o) * ho + oy) * wo + ox] = sum
                }
            }
        }
    }
    return y
}

/// The gradients of `convolutionDefinition` for the output gradient g, in Double: the input's
/// and the weights'.
func convolutionGradientDefinition(_ x: Tensor, weight: Tensor, gradient g: Tensor, stride: (Int, Int), top: Int,
                                   left: Int, groups: Int) -> (input: [Double], weight: [Double]) {
    let (n, channels, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (co, ci, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
    let (ho, wo) = (g.shape[2], g.shape[3])
    var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: weight.count)
    for s in 0..<n {
        for o in 0..<co {
            let firstChannel = o / (co / groups) * ci
            for oy in 0..<ho {
                for ox in 0..<wo {
                    let go = Double(g.scalars[((s * co + o) * ho + oy) * wo + ox])
                    for i in 0..<ci {
                        for r in 0..<kh {
                            let iy = oy * stride.0 + r - top
                            guard iy >= 0 && iy < h else { continue }
                            for c in 0..<kw {
                                let ix = ox * stride.1 + c - left
                                guard ix >= 0 && ix < w else { continue }
                                let xi = ((s * channels + firstChannel + i) * h + iy) * w + ix
                                let wi = ((o * ci + i) * kh + r) * kw + c
                                dx[xi] += go * Double(weight.scalars[wi])
                                dw[wi] += go * Double(x.scalars[xi])
                            }
                        }
                    }
                }
            }
        }
    }
    return (dx, dw)
}

/// The 1x1 and depthwise kernels against the definition, on families of geometries rather than
/// the benchmark shapes: odd plane sizes and channel counts that leave partial vectors and
/// partial panels, planes large enough that the pointwise kernel packs its input, every stride
/// and padding the depthwise kernel takes, channel multipliers, batches, fused residuals and
/// activations, and one to three threads.
final class ConvolutionKernelTests: XCTestCase {
    private func random(_ shape: [Int], _ generator: inout RandomSource, scale: Float = 1) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -scale...scale, using: &generator) })
    }

    /// f applied in Double, for the activations the cases use.
    /// The input gradient `conv.backward` returns after a forward pass on `x`; training also accumulates `weight`'s gradient.
    private func inputGradient(of conv: Conv2D, weight: Parameter, input x: Tensor, outputGradient g: Tensor,
                               training: Bool) throws -> Tensor {
        let context = ForwardContext(isTraining: training)
        var y = Tensor(zeros: try conv.outputShape(for: [x.shape]))
        conv.forward([x], into: &y, context: context)
        weight.zeroGradient()
        return try XCTUnwrap(conv.backward([x], output: y, outputGradient: g, context: BackwardContext(
            forward: context, computesParameterGradients: training))[0])
    }

    /// The input gradient after an inference-style and a training pass, and in training the
    /// weight gradient (within `weightTolerance` besides 1e-5 of itself), against the definition
    /// for output gradient `g`.
    private func checkGradients(of conv: Conv2D, weight: Parameter, input x: Tensor, _ g: Tensor, stride: (Int, Int),
                                top: Int, left: Int, groups: Int, weightTolerance: Float = 1e-4, _ label: String,
                                file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = convolutionGradientDefinition(x, weight: weight.value, gradient: g, stride: stride, top: top, left: left,
                                                     groups: groups)
        let scale = Float(max(1, expected.input.map(abs).max() ?? 1))
        for training in [false, true] {
            let dx = try inputGradient(of: conv, weight: weight, input: x, outputGradient: g, training: training)
            assertClose(dx, Tensor(shape: x.shape, scalars: expected.input.map(Float.init)), rtol: 0, atol: 2e-5 * scale,
                        "input gradient, \(label) training \(training)", file: file, line: line)
            if training {
                assertClose(weight.gradient, Tensor(shape: weight.value.shape, scalars: expected.weight.map(Float.init)),
                            rtol: 1e-5, atol: weightTolerance, "weight gradient, \(label)", file: file, line: line)
            }
        }
    }

    private func apply(_ activation: Activation?, _ v: Double) -> Double {
        switch activation {
        case nil: return v
        case .relu6?: return min(max(v, 0), 6)
        case .silu?: return v / (1 + exp(-v))
        case .sigmoid?: return 1 / (1 + exp(-v))
        case .hardSwish?: return v * min(max(v / 6 + 0.5, 0), 1)
        case .relu?: return max(v, 0)
        default: fatalError("no Double form for \(activation!)")
        }
    }

    /// Runs `conv` on x (with `residual` when given) in inference, in planned-style inference and
    /// in a traced pass, and compares each with the definition.
    private func check(_ conv: Conv2D, _ x: Tensor, residual: Tensor?, groups: Int, stride: (Int, Int), top: Int,
                       left: Int, _ label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let outputShape = try conv.outputShape(for: [x.shape])
        let sums = convolutionDefinition(x, weight: conv.weight.value, bias: conv.bias?.value, stride: stride, top: top,
                                         left: left, groups: groups, outputShape: outputShape)
        let expected = Tensor(shape: outputShape, scalars: sums.enumerated().map { i, sum in
            Float(apply(conv.activation, sum + Double(residual?.scalars[i] ?? 0)))
        })
        let scale = max(1, expected.scalars.map(abs).max() ?? 1)
        for context in [ForwardContext(isTraining: false, keepsForBackward: false), ForwardContext(isTraining: false),
                        ForwardContext(isTraining: true)] {
            var y = Tensor(zeros: outputShape)
            conv.forward(residual.map { [x, $0] } ?? [x], into: &y, context: context)
            assertClose(y, expected, rtol: 0, atol: 2e-5 * scale,
                        "\(label) training \(context.isTraining) keeping \(context.keepsForBackward)", file: file, line: line)
        }
    }

    func testPointwiseMatchesTheDefinition() throws {
        let previous = EngineThreads.count
        defer { EngineThreads.set(previous) }
        let cases: [(cin: Int, cout: Int, height: Int, width: Int, groups: Int, batch: Int)] = [
            (1, 1, 1, 1, 1, 1), (3, 5, 1, 7, 1, 2), (16, 96, 13, 17, 1, 1), (24, 13, 9, 9, 1, 3), (7, 6, 33, 41, 1, 1),
            (17, 7, 1, 33, 1, 1), (96, 24, 35, 33, 1, 1), (130, 70, 37, 29, 1, 2), (12, 18, 11, 13, 3, 2),
            (64, 65, 7, 7, 1, 1), (8, 12, 5, 3, 4, 1), (200, 40, 16, 16, 2, 1), (10, 8, 3, 6, 1, 2), (9, 13, 1, 50, 1, 1),
            (72, 20, 5, 10, 1, 2), (400, 26, 7, 7, 1, 1), (300, 14, 9, 10, 1, 1), (160, 50, 6, 7, 1, 1),
            (100, 20, 5, 9, 1, 3), (90, 31, 8, 5, 1, 3),
            // Weights past 4 MB a call (one and two threads) take blocks of up to 2 MB of input.
            (1100, 2000, 5, 11, 1, 1), (1040, 1030, 9, 7, 1, 1), (1100, 2000, 5, 11, 1, 1),
            // Deep layers on planes of 257 to 1024 positions copy their input into tiles too, and
            // layers of 24 to 64 channels on planes over 1024.
            (150, 40, 20, 23, 1, 1), (70, 19, 31, 17, 1, 2), (24, 50, 33, 35, 1, 1), (64, 30, 37, 29, 1, 2),
        ]
        let activations: [Activation?] = [nil, .relu6, .silu, .hardSwish]
        var generator = RandomSource(seed: 31)
        for (index, c) in cases.enumerated() {
            EngineThreads.set(1 + index % 3)
            let weight = random([c.cout, c.cin / c.groups, 1, 1], &generator, scale: 0.5)
            let conv = Conv2D(weight: Parameter(name: "w", value: weight),
                              bias: index % 4 == 3 ? nil : Parameter(name: "b", value: random([c.cout], &generator)),
                              groups: c.groups, activation: activations[index % activations.count])
            let x = random([c.batch, c.cin, c.height, c.width], &generator)
            let residual = index.isMultiple(of: 2) ? random([c.batch, c.cout, c.height, c.width], &generator) : nil
            try check(conv, x, residual: residual, groups: c.groups, stride: (1, 1), top: 0, left: 0,
                      "case \(index) \(c) on \(EngineThreads.count) threads")
        }
    }

    /// Unpadded 1x1 layers with strides (ResNet-style downsampling shortcuts), whose columns the
    /// pointwise kernel gathers into its tiles: stride 2 on even and odd planes (rows whose
    /// pairs of vectors stay inside the row, and rows where the last output column's pair would
    /// run past it), strides 2x1, 1x2, 3 and 2x3, planes under one tile and rows that cross
    /// tiles, shallow and deep layers, partial panels, groups, batches (small planes of a batch
    /// at inference take the unrolled columns' GEMM), residuals, activations whose argument is
    /// kept, one to three threads; and the input and weight gradients.
    func testStridedPointwiseMatchesTheDefinition() throws {
        let previous = EngineThreads.count
        defer { EngineThreads.set(previous) }
        let cases: [(cin: Int, cout: Int, stride: (Int, Int), height: Int, width: Int, groups: Int, batch: Int)] = [
            (32, 32, (2, 2), 112, 112, 1, 1), (64, 128, (2, 2), 56, 56, 1, 1), (160, 400, (2, 2), 14, 14, 1, 1),
            (24, 13, (2, 2), 29, 31, 1, 1), (7, 6, (2, 2), 33, 41, 1, 2), (130, 70, (2, 2), 15, 13, 1, 1),
            (16, 20, (2, 1), 9, 40, 1, 1), (16, 20, (1, 2), 9, 40, 1, 1), (40, 17, (3, 3), 25, 26, 1, 1),
            (12, 18, (2, 3), 11, 37, 3, 2), (300, 14, (2, 2), 7, 7, 1, 1), (1, 1, (2, 2), 1, 1, 1, 1),
            (96, 50, (2, 2), 3, 35, 2, 1), (72, 20, (2, 2), 17, 17, 1, 3), (48, 64, (2, 2), 60, 34, 1, 1),
        ]
        let activations: [Activation?] = [nil, .relu, .silu, .hardSwish]
        var generator = RandomSource(seed: 37)
        for (index, c) in cases.enumerated() {
            EngineThreads.set(1 + index % 3)
            let weight = Parameter(name: "w", value: random([c.cout, c.cin / c.groups, 1, 1], &generator, scale: 0.5))
            let conv = Conv2D(weight: weight,
                              bias: index % 4 == 3 ? nil : Parameter(name: "b", value: random([c.cout], &generator)),
                              stride: c.stride, groups: c.groups, activation: activations[index % activations.count])
            let x = random([c.batch, c.cin, c.height, c.width], &generator)
            let outputShape = try conv.outputShape(for: [x.shape])
            let residual = index.isMultiple(of: 2) ? random(outputShape, &generator) : nil
            let label = "case \(index) \(c) on \(EngineThreads.count) threads"
            try check(conv, x, residual: residual, groups: c.groups, stride: c.stride, top: 0, left: 0, label)
            let plain = Conv2D(weight: weight, bias: nil, stride: c.stride, groups: c.groups)
            try checkGradients(of: plain, weight: weight, input: x, random(outputShape, &generator), stride: c.stride, top: 0,
                               left: 0, groups: c.groups, weightTolerance: 2e-6 * Float(outputShape.dropFirst(2).reduce(c.batch, *)),
                               label)
        }
    }

    /// Grouped convolutions of 4 to 455 channels a group (the direct kernel's range, one group at
    /// a time, past 64 on two or three threads or in tiles of positions by channels, which take
    /// groups of 24 or more output channels in eights, with or without a last 8 or 16, and
    /// groups in sixteens, in one or two blocks of sixteen and both, on tiles that run across row
    /// and band ends: RegNetX-400MF's 25 groups of 16 on 7x7 among them) and outside it (2 and
    /// 512 a group, im2col):
    /// 3x3 at strides 1 and 2 as RegNet
    /// and ResNeXt have them (stride 2 on rows wide enough for whole vectors of both column
    /// phases and not), 5x5 and 2x2, output channels a group in fours and not, odd planes,
    /// batches, residuals and activations, one to three threads.
    func testGroupedMatchesTheDefinition() throws {
        let previous = EngineThreads.count
        defer { EngineThreads.set(previous) }
        let cases: [(cin: Int, cout: Int, groups: Int, kernel: Int, stride: Int, pad: Int, height: Int, width: Int, batch: Int)] = [
            (32, 32, 2, 3, 1, 1, 14, 14, 1), (48, 48, 3, 3, 2, 1, 15, 13, 2), (64, 128, 4, 3, 1, 1, 7, 9, 1),
            (112, 112, 2, 3, 2, 1, 10, 10, 1), (24, 36, 3, 3, 1, 0, 9, 17, 2), (40, 40, 5, 5, 1, 2, 11, 8, 1),
            (16, 16, 2, 2, 2, 0, 8, 8, 1), (16, 20, 2, 3, 1, 1, 6, 21, 1), (32, 32, 8, 3, 1, 1, 9, 9, 1),
            (128, 128, 2, 3, 1, 1, 5, 5, 1), (96, 96, 2, 3, 1, 1, 1, 1, 1), (16, 16, 8, 3, 1, 1, 6, 7, 1),
            (32, 32, 4, 3, 2, 1, 56, 56, 1), (64, 64, 8, 3, 2, 1, 39, 37, 2), (24, 24, 3, 3, 2, 0, 35, 50, 1),
            (240, 240, 2, 3, 2, 1, 9, 11, 1), (1024, 64, 2, 3, 1, 1, 3, 3, 1), (80, 80, 2, 3, 1, 1, 17, 19, 2),
            (400, 400, 25, 3, 1, 1, 7, 7, 1), (96, 96, 2, 3, 1, 1, 7, 7, 2), (160, 160, 10, 3, 2, 1, 28, 28, 1),
        ]
        let activations: [Activation?] = [.relu, nil, .silu, .relu6]
        var generator = RandomSource(seed: 17)
        for (index, c) in cases.enumerated() {
            EngineThreads.set(1 + index % 3)
            let weight = random([c.cout, c.cin / c.groups, c.kernel, c.kernel], &generator, scale: 0.3)
            let conv = Conv2D(weight: Parameter(name: "w", value: weight),
                              bias: index % 4 == 2 ? nil : Parameter(name: "b", value: random([c.cout], &generator)),
                              stride: (c.stride, c.stride), padding: .explicit(top: c.pad, left: c.pad, bottom: c.pad, right: c.pad),
                              groups: c.groups, activation: activations[index % activations.count])
            let x = random([c.batch, c.cin, c.height, c.width], &generator)
            let outputShape = try conv.outputShape(for: [x.shape])
            let residual = index.isMultiple(of: 3) ? random(outputShape, &generator) : nil
            try check(conv, x, residual: residual, groups: c.groups, stride: (c.stride, c.stride), top: c.pad, left: c.pad,
                      "case \(index) \(c) on \(EngineThreads.count) threads")
        }
    }

    /// Grouped input and weight gradients against the definition, with and without weight
    /// gradients (training, saliency): stride 1, whose input gradient the direct kernel computes
    /// (4 to 455 channels a group, past 64 on two or three threads or in tiles; padding of the kernel's
    /// size and past it, which crops), and
    /// stride 2 and groups outside that range (im2col and col2im); one to three threads.
    func testGroupedBackwardMatchesTheDefinition() throws {
        let previous = EngineThreads.count
        defer { EngineThreads.set(previous) }
        let cases: [(cin: Int, cout: Int, groups: Int, kernel: (Int, Int), stride: Int, pads: (Int, Int, Int, Int),
                     height: Int, width: Int, batch: Int)] = [
            (128, 128, 32, (3, 3), 1, (1, 1, 1, 1), 13, 11, 1), (64, 64, 4, (3, 3), 1, (1, 1, 1, 1), 7, 7, 2),
            (48, 96, 2, (3, 3), 1, (0, 2, 2, 0), 9, 19, 1), (40, 40, 5, (5, 5), 1, (2, 2, 2, 2), 8, 11, 1),
            (32, 32, 4, (3, 3), 1, (3, 0, 1, 2), 10, 9, 1), (24, 24, 3, (2, 3), 1, (0, 1, 1, 1), 6, 17, 2),
            (32, 32, 8, (3, 3), 2, (1, 1, 1, 1), 14, 15, 1), (16, 16, 8, (3, 3), 1, (1, 1, 1, 1), 6, 6, 1),
            (36, 24, 4, (3, 3), 1, (1, 1, 1, 1), 5, 9, 1), (112, 112, 2, (3, 3), 1, (1, 1, 1, 1), 6, 5, 1),
            (240, 240, 2, (3, 3), 1, (1, 1, 1, 1), 7, 7, 1), (1024, 64, 2, (3, 3), 1, (1, 1, 1, 1), 3, 2, 1),
            (80, 80, 2, (3, 3), 1, (1, 1, 1, 1), 12, 13, 1), (96, 96, 2, (3, 3), 1, (1, 1, 1, 1), 7, 7, 1),
            (160, 160, 10, (3, 3), 1, (1, 1, 1, 1), 14, 14, 1),
        ]
        var generator = RandomSource(seed: 23)
        for (index, c) in cases.enumerated() {
            EngineThreads.set(1 + index % 3)
            let weight = Parameter(name: "w", value: random([c.cout, c.cin / c.groups, c.kernel.0, c.kernel.1], &generator,
                                                            scale: 0.3))
            let conv = Conv2D(weight: weight, bias: nil, stride: (c.stride, c.stride),
                              padding: .explicit(top: c.pads.0, left: c.pads.1, bottom: c.pads.2, right: c.pads.3),
                              groups: c.groups)
            let x = random([c.batch, c.cin, c.height, c.width], &generator)
            try checkGradients(of: conv, weight: weight, input: x, random(try conv.outputShape(for: [x.shape]), &generator),
                               stride: (c.stride, c.stride), top: c.pads.0, left: c.pads.1, groups: c.groups,
                               "case \(index) \(c) on \(EngineThreads.count) threads")
        }
    }

    /// 1x1 input gradients (the pointwise kernel on the transposed weights: out and in swapped,
    /// so the layer's output channels are its depth) and weight gradients against the
    /// definition, with and without weight gradients: partial panels and vectors, planes the
    /// kernel cuts into pieces of columns and deep ones it copies into tiles, groups, batches,
    /// one to three threads.
    func testPointwiseBackwardMatchesTheDefinition() throws {
        let previous = EngineThreads.count
        defer { EngineThreads.set(previous) }
        let cases: [(cin: Int, cout: Int, groups: Int, height: Int, width: Int, batch: Int)] = [
            (1, 1, 1, 1, 1, 1), (13, 5, 1, 3, 7, 2), (96, 16, 1, 13, 17, 1), (24, 150, 1, 20, 23, 1),
            (18, 12, 3, 11, 13, 2), (40, 200, 2, 16, 16, 1), (7, 64, 1, 37, 29, 3), (384, 96, 1, 7, 7, 1),
            (70, 130, 1, 37, 29, 2), (26, 400, 1, 7, 7, 1),
        ]
        var generator = RandomSource(seed: 29)
        for (index, c) in cases.enumerated() {
            EngineThreads.set(1 + index % 3)
            let weight = Parameter(name: "w", value: random([c.cout, c.cin / c.groups, 1, 1], &generator, scale: 0.3))
            let conv = Conv2D(weight: weight, bias: nil, groups: c.groups)
            let x = random([c.batch, c.cin, c.height, c.width], &generator)
            try checkGradients(of: conv, weight: weight, input: x, random(try conv.outputShape(for: [x.shape]), &generator),
                               stride: (1, 1), top: 0, left: 0, groups: c.groups, "case \(index) \(c) on \(EngineThreads.count) threads")
        }
    }

    /// A random depthwise layer (`multiplier` outputs a channel; pads top, left, bottom, right)
    /// against the definition.
    private func checkDepthwise(channels: Int, multiplier: Int, batch: Int, height: Int, width: Int, kernel: (Int, Int),
                                stride: (Int, Int), pads: (Int, Int, Int, Int), bias: Bool, activation: Activation?,
                                residual: Bool, _ generator: inout RandomSource, _ label: String,
                                file: StaticString = #filePath, line: UInt = #line) throws {
        let out = channels * multiplier
        let conv = Conv2D(weight: Parameter(name: "w", value: random([out, 1, kernel.0, kernel.1], &generator)),
                          bias: bias ? Parameter(name: "b", value: random([out], &generator)) : nil, stride: stride,
                          padding: .explicit(top: pads.0, left: pads.1, bottom: pads.2, right: pads.3),
                          groups: channels, activation: activation)
        let x = random([batch, channels, height, width], &generator)
        let sum = residual ? random(try conv.outputShape(for: [x.shape]), &generator) : nil
        try check(conv, x, residual: sum, groups: channels, stride: stride, top: pads.0, left: pads.1,
                  "\(label) \(x.shape)", file: file, line: line)
    }

    func testDepthwiseMatchesTheDefinition() throws {
        let previous = EngineThreads.count
        defer { EngineThreads.set(previous) }
        var generator = RandomSource(seed: 9)
        var index = 0
        let activations: [Activation?] = [.relu6, nil, .silu, .hardSwish]
        for kernel in [(3, 3), (5, 5), (7, 7), (1, 1), (2, 2), (3, 5), (4, 1)] {
            for stride in [(1, 1), (2, 2), (1, 2), (2, 1)] {
                for (height, width) in [(1, 1), (7, 7), (14, 9), (15, 37), (20, 41), (3, 16)] {
                    let pads = [(kernel.0 / 2, kernel.1 / 2, kernel.0 / 2, kernel.1 / 2), (0, 0, 0, 0),
                                (kernel.0 - 1, 0, 0, kernel.1 - 1)][index % 3]
                    index += 1
                    guard height + pads.0 + pads.2 >= kernel.0, width + pads.1 + pads.3 >= kernel.1 else { continue }
                    EngineThreads.set(1 + index % 2)
                    // Up to four channels, or eleven: a block of eight and a partial one for the kernel
                    // that runs eight channels at a time.
                    let channels = index % 4 == 3 ? 11 : 1 + index % 4
                    let (multiplier, batch) = (1 + index % 5 / 4, 1 + index % 3 / 2)
                    try checkDepthwise(channels: channels, multiplier: multiplier, batch: batch, height: height, width: width,
                                       kernel: kernel, stride: stride, pads: pads, bias: index % 7 != 5,
                                       activation: activations[index % activations.count], residual: index % 3 == 1,
                                       &generator, "kernel \(kernel) stride \(stride) pads \(pads) multiplier \(multiplier)")
                }
            }
        }
    }

    /// Rows wider than 64 at stride 1 take the plane kernel when the taps are at most three wide
    /// and the activation takes an exponential, and the channel blocks otherwise (with the
    /// activation as a pass over finished rows when it takes an exponential): every route
    /// against the definition, with a partial block of channels and a residual.
    func testDepthwiseWideRowsMatchTheDefinition() throws {
        let previous = EngineThreads.count
        defer { EngineThreads.set(previous) }
        var generator = RandomSource(seed: 23)
        var index = 0
        for kernel in [3, 5] {
            for activation in [Activation.silu, .relu6, .sigmoid, .hardSwish] {
                EngineThreads.set(1 + index % 2)
                let (channels, pad) = (11, kernel / 2)
                let conv = Conv2D(weight: Parameter(name: "w", value: random([channels, 1, kernel, kernel], &generator)),
                                  bias: Parameter(name: "b", value: random([channels], &generator)), stride: (1, 1),
                                  padding: .explicit(top: pad, left: pad, bottom: pad, right: pad), groups: channels,
                                  activation: activation)
                let x = random([1, channels, 5, 70], &generator)
                let residual = index.isMultiple(of: 2) ? random([1, channels, 5, 70], &generator) : nil
                try check(conv, x, residual: residual, groups: channels, stride: (1, 1), top: pad, left: pad,
                          "\(kernel)x\(kernel) \(activation) on 5x70")
                index += 1
            }
        }
    }

    /// The input gradient through a fused activation that backward reads from the kept argument
    /// (SiLU) or from the output (sigmoid), against the definition: the channel blocks write the
    /// argument in the pass that applies the activation over finished rows, on every route
    /// (narrow and wide rows, stride 2, the plane kernel, bands of rows on two threads).
    func testDepthwiseActivationGradientMatchesTheDefinition() throws {
        let previous = EngineThreads.count
        defer { EngineThreads.set(previous) }
        var generator = RandomSource(seed: 57)
        let geometries: [(kernel: Int, stride: Int, height: Int, width: Int, threads: Int, batch: Int)] = [
            (5, 1, 9, 19, 1, 1), (3, 1, 12, 21, 1, 2), (3, 2, 13, 17, 1, 1), (5, 1, 4, 70, 1, 1), (3, 1, 4, 70, 1, 1),
            (3, 1, 17, 16, 2, 1), (5, 2, 20, 23, 2, 1), (3, 1, 30, 9, 2, 3),
        ]
        for (index, g) in geometries.enumerated() {
            for activation in [Activation.silu, .sigmoid] {
                EngineThreads.set(g.threads)
                let (channels, pad) = (index.isMultiple(of: 2) ? 11 : 8, g.kernel / 2)
                let weight = Parameter(name: "w", value: random([channels, 1, g.kernel, g.kernel], &generator))
                let bias = Parameter(name: "b", value: random([channels], &generator))
                let conv = Conv2D(weight: weight, bias: bias, stride: (g.stride, g.stride),
                                  padding: .explicit(top: pad, left: pad, bottom: pad, right: pad), groups: channels,
                                  activation: activation)
                let x = random([g.batch, channels, g.height, g.width], &generator)
                let outputShape = try conv.outputShape(for: [x.shape])
                let outputGradient = random(outputShape, &generator)
                let sums = convolutionDefinition(x, weight: weight.value, bias: bias.value, stride: (g.stride, g.stride),
                                                 top: pad, left: pad, groups: channels, outputShape: outputShape)
                // f'(z) times the output gradient: what the linear convolution's gradient receives.
                let inner = Tensor(shape: outputShape, scalars: zip(sums, outputGradient.scalars).map { z, gy in
                    let s = 1 / (1 + exp(-z))
                    let derivative = activation == .silu ? s * (1 + z * (1 - s)) : s * (1 - s)
                    return Float(derivative * Double(gy))
                })
                let expected = convolutionGradientDefinition(x, weight: weight.value, gradient: inner,
                                                             stride: (g.stride, g.stride), top: pad, left: pad,
                                                             groups: channels)
                let dx = try inputGradient(of: conv, weight: weight, input: x, outputGradient: outputGradient,
                                           training: false)
                let scale = Float(max(1, expected.input.map(abs).max() ?? 1))
                assertClose(dx, Tensor(shape: x.shape, scalars: expected.input.map(Float.init)), rtol: 0,
                            atol: 2e-5 * scale, "\(activation) \(g) on \(channels) channels")
            }
        }
    }

    /// On planes of 256 or more input positions, when the images do not split evenly across
    /// the threads, the channel blocks share each plane among the threads by bands of output
    /// rows: two and three threads, one to three images, bands ending in a partial group of
    /// columns (whose stores must not run on into the next band), halo rows at both strides,
    /// planes with fewer output rows than threads, a partial block of channels, residuals.
    func testDepthwiseRowBandsMatchTheDefinition() throws {
        let previous = EngineThreads.count
        defer { EngineThreads.set(previous) }
        var generator = RandomSource(seed: 41)
        let activations: [Activation?] = [.relu6, nil, .hardSwish, .silu]
        var index = 0
        for threads in 2...3 {
            for (kernel, stride) in [((3, 3), (1, 1)), ((3, 3), (2, 2)), ((5, 5), (1, 1)), ((5, 5), (2, 2)), ((7, 7), (1, 1))] {
                for (height, width) in [(16, 16), (23, 37), (40, 9), (2, 150), (29, 29)] {
                    index += 1
                    EngineThreads.set(threads)
                    let (channels, batch) = ([11, 8, 3][index % 3], 1 + index % 3)
                    let pad = (kernel.0 / 2, kernel.1 / 2)
                    try checkDepthwise(channels: channels, multiplier: 1, batch: batch, height: height, width: width,
                                       kernel: kernel, stride: stride, pads: (pad.0, pad.1, pad.0, pad.1), bias: true,
                                       activation: activations[index % activations.count], residual: index % 2 == 0,
                                       &generator, "kernel \(kernel) stride \(stride) on \(threads) threads")
                }
            }
        }
    }

    /// Depthwise input and weight gradients against the definition (finite differences check a
    /// few of these in GradientTests).
    func testDepthwiseBackwardMatchesTheDefinition() throws {
        let previous = EngineThreads.count
        defer { EngineThreads.set(previous) }
        var generator = RandomSource(seed: 13)
        var index = 0
        for kernel in [(3, 3), (5, 5), (7, 7), (2, 3)] {
            for stride in [(1, 1), (2, 2), (2, 1)] {
                for (height, width) in [(7, 7), (14, 9), (15, 37), (4, 20)] {
                    let pads = [(kernel.0 / 2, kernel.1 / 2, kernel.0 / 2, kernel.1 / 2), (0, 0, 0, 0),
                                (kernel.0 - 1, 1, 0, kernel.1 - 1)][index % 3]
                    index += 1
                    guard height + pads.0 + pads.2 >= kernel.0, width + pads.1 + pads.3 >= kernel.1 else { continue }
                    EngineThreads.set(1 + index % 2)
                    let (channels, multiplier, batch) = (1 + index % 3, 1 + index % 4 / 3, 1 + index % 2)
                    let out = channels * multiplier
                    let weight = Parameter(name: "w", value: random([out, 1, kernel.0, kernel.1], &generator))
                    let conv = Conv2D(weight: weight, bias: nil, stride: stride,
                                      padding: .explicit(top: pads.0, left: pads.1, bottom: pads.2, right: pads.3),
                                      groups: channels)
                    let x = random([batch, channels, height, width], &generator)
                    let outputShape = try conv.outputShape(for: [x.shape])
                    let g = random(outputShape, &generator)
                    let dx = try inputGradient(of: conv, weight: weight, input: x, outputGradient: g, training: true)
                    let expected = convolutionGradientDefinition(x, weight: weight.value, gradient: g, stride: stride,
                                                                 top: pads.0, left: pads.1, groups: channels)
                    let label = "kernel \(kernel) stride \(stride) \(x.shape) pads \(pads) multiplier \(multiplier)"
                    assertClose(dx, Tensor(shape: x.shape, scalars: expected.input.map(Float.init)), rtol: 1e-5, atol: 1e-5,
                                "input gradient, \(label)")
                    assertClose(weight.gradient, Tensor(shape: weight.value.shape, scalars: expected.weight.map(Float.init)),
                                rtol: 1e-5, atol: 1e-4, "weight gradient, \(label)")
                }
            }
        }
    }
}
