/// Resize (opsets 10 to 19) and its predecessor Upsample (7 to 9).
extension ONNXOperatorSet {
    static let resizing: [String: Converter] = [
        "Resize": resize,
        "Upsample": upsample,
    ]

    /// A constant input that an exporter may also leave as an empty tensor, meaning absent.
    private static func present(_ tensor: ONNXTensor?) -> ONNXTensor? {
        tensor.flatMap { $0.count == 0 ? nil : $0 }
    }

    private static func resize(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        let x = try b.input(r, 0)
        let rank = x.shape.count
        let modeName = r.string("mode") ?? "nearest"
        let filter: Resize.Filter
        switch modeName {
        case "nearest":
            // Opset 10 resizes as Upsample did: asymmetric coordinates, rounded down.
            let rounding = r.opset < 11 ? "floor" : r.string("nearest_mode") ?? "round_prefer_floor"
            guard let mode = Resize.Rounding(rawValue: rounding) else { throw r.error("nearest_mode '\(rounding)' is not supported") }
            filter = .nearest(mode)
        case "linear", "bilinear", "trilinear": filter = .linear
        case "cubic", "bicubic": filter = .cubic(a: Double(r.float("cubic_coeff_a", default: -0.75)))
        default: throw r.error("mode '\(modeName)' is not supported")
        }
        var coordinates = r.opset < 11 ? "asymmetric" : r.string("coordinate_transformation_mode") ?? "half_pixel"
        if coordinates == "tf_half_pixel_for_nn" { coordinates = "tf_half_pixel_for_nearest" }
        guard let coordinateMode = Resize.CoordinateMode(rawValue: coordinates) else {
            throw r.error("coordinate_transformation_mode '\(coordinates)' is not supported")
        }
        let axes = try (r.ints("axes") ?? Array(0..<rank)).map { try normalizedAxis($0, rank: rank, r) }
        guard Set(axes).count == axes.count else { throw r.error("repeated axes \(axes)") }

        var scales: [Double]?, sizes: [Int]?, roi: [Double]?
        if r.opset < 11 {
            scales = try present(b.constantInput(r, 1, "scales")).map { $0.floats(for: r.location).map(Double.init) }
        } else {
            roi = try present(b.constantInput(r, 1, "roi")).map { $0.floats(for: r.location).map(Double.init) }
            scales = try present(b.constantInput(r, 2, "scales")).map { $0.floats(for: r.location).map(Double.init) }
            sizes = try present(b.constantInput(r, 3, "sizes")).map { try $0.integers(for: r.location) }
        }
        guard (scales == nil) != (sizes == nil) else { throw r.error("exactly one of scales and sizes must be given") }
        if let scales, scales.count != axes.count { throw r.error("\(scales.count) scales for \(axes.count) axes") }
        if let sizes, sizes.count != axes.count { throw r.error("\(sizes.count) sizes for \(axes.count) axes") }

        // keep_aspect_ratio_policy scales every listed axis alike, rounding half up.
        let policy = r.string("keep_aspect_ratio_policy") ?? "stretch"
        if var given = sizes, policy != "stretch" {
            let ratios = zip(axes, given).map { Double($1) / Double(x.shape[$0]) }
            guard let ratio = policy == "not_larger" ? ratios.min() : policy == "not_smaller" ? ratios.max() : nil else {
                throw r.error("keep_aspect_ratio_policy '\(policy)' is not supported")
            }
            given = axes.map { Int(ratio * Double(x.shape[$0]) + 0.5) }
            sizes = given
        }

        var targets = [Resize.Target?](repeating: nil, count: rank)
        var region: [(start: Double, end: Double)]?
        if coordinateMode == .tfCropAndResize {
            guard let roi, roi.count == 2 * axes.count else { throw r.error("tf_crop_and_resize needs a roi of two values per axis") }
            region = Array(repeating: (0, 1), count: rank)
            for (i, axis) in axes.enumerated() { region![axis] = (roi[i], roi[axes.count + i]) }
        }
        for (i, axis) in axes.enumerated() {
            targets[axis] = scales.map { .scale($0[i]) } ?? sizes.map { .size($0[i]) }
        }
        // The free batch axis cannot be resized: its size is only known at run time.
        if b.leadingAxisIsBatch, let first = targets[0] {
            guard first == .scale(1) || first == .size(x.shape[0]), region?[0] ?? (0, 1) == (0, 1) else {
                throw r.error("resizing the batch axis is not supported")
            }
            targets[0] = nil
        }
        let op = Resize(targets: targets, filter: filter, coordinateMode: coordinateMode,
                        antialias: try r.int("antialias", default: 0) == 1,
                        excludeOutside: try r.int("exclude_outside", default: 0) == 1,
                        regionOfInterest: region, extrapolationValue: r.float("extrapolation_value", default: 0))
        return [try b.apply(op, [x], for: r)]
    }

    /// Scales are an attribute in opset 7 and an input from 9; coordinates are asymmetric and
    /// nearest rounds down (Upsample by 2 repeats every element twice).
    private static func upsample(_ r: ONNXNodeReader, _ b: ONNXGraphBuilder) throws -> [ONNXValue] {
        let x = try b.input(r, 0)
        guard r.opset >= 7 else { throw r.error("Upsample before opset 7 (height_scale and width_scale) is not supported") }
        let scales = r.opset < 9 ? r.floats("scales") : try b.constantInput(r, 1, "scales")?.floats(for: r.location)
        guard let scales, scales.count == x.shape.count else { throw r.error("scales must give one value per axis") }
        let modeName = r.string("mode") ?? "nearest"
        let filter: Resize.Filter
        switch modeName {
        case "nearest": filter = .nearest(.floor)
        case "linear", "bilinear": filter = .linear
        default: throw r.error("mode '\(modeName)' is not supported")
        }
        var targets: [Resize.Target?] = scales.map { .scale(Double($0)) }
        if b.leadingAxisIsBatch {
            guard scales[0] == 1 else { throw r.error("resizing the batch axis is not supported") }
            targets[0] = nil
        }
        return [try b.apply(Resize(targets: targets, filter: filter, coordinateMode: .asymmetric), [x], for: r)]
    }
}
