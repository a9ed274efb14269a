/// Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, 2015) for 3x3 stride-1
/// convolutions: each 2x2 block of outputs costs 16 multiplications per channel pair instead of
/// 36, and the multiplications become 16 GEMMs, one per position of the 4x4 transformed tile.
///
/// The filters are transformed once (U = G g Gᵀ, 16/9 the weights' size) and kept while the
/// weight storage they came from is unchanged; input tiles (V = Bᵀ d B) and outputs
/// (Y = Aᵀ M A) are transformed per call, in bands of tile rows small enough to stay in cache.
///
/// Backward uses the same kernel for the input gradient, which is itself a 3x3 stride-1
/// convolution of the output gradient (`init(inputGradientOf:)`, `Window.inputGradientWindow`).
struct WinogradFilters: DerivedFilters {
    /// U[ξ][out][in], ξ the position in the 4x4 tile.
    let transformed: [Float]
    /// The weights U came from: holding their storage makes any later write to the parameter
    /// copy it, so a changed base address tells that U is stale.
    private let source: [Float]
    let outChannels: Int
    let inChannels: Int

    /// `weight` is [out, in, 3, 3].
    init(weight: Tensor) {
        self.init(filters: weight.scalars, outChannels: weight.shape[0], inChannels: weight.shape[1], source: weight.scalars)
    }

    /// The filters of the convolution that computes the input gradient of the 3x3 stride-1
    /// convolution with `weight` ([out, in, 3, 3]): the same taps with in and out swapped and
    /// rotated by 180°, as each input pixel gathers from the outputs its taps reached.
    init(inputGradientOf weight: Tensor) {
        let (co, ci) = (weight.shape[0], weight.shape[1])
        var rotated = [Float](repeating: 0, count: co * ci * 9)
        for o in 0..<co {
            for i in 0..<ci {
                for t in 0..<9 { rotated[(i * co + o) * 9 + 8 - t] = weight.scalars[(o * ci + i) * 9 + t] }
            }
        }
        self.init(filters: rotated, outChannels: ci, inChannels: co, source: weight.scalars)
    }

    /// `filters` is [out, in, 3, 3]; `source` the weight storage they derive from.
    private init(filters: [Float], outChannels co: Int, inChannels ci: Int, source: [Float]) {
        var u = [Float](repeating: 0, count: 16 * co * ci)
        filters.withUnsafeBufferPointer { g in
            for o in 0..<co {
                for i in 0..<ci {
                    let f = g.baseAddress! + (o * ci + i) * 9
                    // G g: rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2; then the same on columns.
                    let (g0, g1, g2) = (SIMD3(f[0], f[1], f[2]), SIMD3(f[3], f[4], f[5]), SIMD3(f[6], f[7], f[8]))
                    let rows = [g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2]
                    for (r, row) in rows.enumerated() {
                        let tile = SIMD4(row[0], (row[0] + row[1] + row[2]) / 2, (row[0] - row[1] + row[2]) / 2, row[2])
                        for c in 0..<4 { u[((r * 4 + c) * co + o) * ci + i] = tile[c] }
                    }
                }
            }
        }
        transformed = u
        self.source = source
        outChannels = co
        inChannels = ci
    }

    func isCurrent(for weight: Tensor) -> Bool {
        source.withUnsafeBufferPointer { a in weight.scalars.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress } }
    }

    /// Whether F(2x2, 3x3) pays for a convolution of this geometry: enough channels for the
    /// GEMMs to dominate the transforms, and enough tiles (outputs of at least 11x11) that
    /// repacking the 16 transformed filter matrices does not cost more than the products save.
    static func applies(window: Window, groups: Int, inChannels: Int, outChannels: Int) -> Bool {
        window.kernel == (3, 3) && window.stride == (1, 1) && window.dilation == (1, 1) && groups == 1
            && inChannels >= 16 && outChannels >= 16 && (window.outputHeight + 1) / 2 * ((window.outputWidth + 1) / 2) >= 36
    }

    /// The convolution of one batch into `y` ([N, out, Ho, Wo]). `finish(y, rows, channels)` runs
    /// on each block of finished output rows and channels of one image, for bias and activation
    /// while still in cache.
    func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch n: Int, window w: Window,
                 workspace: Workspace,
                 finish: (_ plane: UnsafeMutablePointer<Float>, _ rows: Range<Int>, _ channels: Range<Int>) -> Void) {
        let (co, ci) = (outChannels, inChannels)
        let (tileRows, tileColumns) = ((w.outputHeight + 1) / 2, (w.outputWidth + 1) / 2)
        let threads = EngineThreads.count
        // Bands of at least 64 tiles, so that repacking U for each band's GEMMs stays small beside
        // the products; more where a band's V (16 x in x tiles) and M (16 x out x tiles) still
        // fit in about 1 MB. But at least one band per thread, for threads to take whole bands.
        let bandTiles = Swift.max(64, (1 << 18) / (16 * (ci + co)))
        let cachedTileRows = Swift.min(tileRows, (bandTiles + tileColumns - 1) / tileColumns)
        let bandsPerImage = Swift.max(1, (threads + n - 1) / n)
        let widestBand = Swift.min(cachedTileRows, (tileRows + bandsPerImage - 1) / bandsPerImage)
        let bands = (tileRows + widestBand - 1) / widestBand
        // The rows dealt out as evenly as they go: SqueezeNet's 55x55 layers (28 tile rows) in
        // bands of 8, 8, 8 and 4 gave one of two threads 16 rows and the other 12.
        let bandTileRows = (tileRows + bands - 1) / bands
        func rows(ofBand b: Int) -> Range<Int> { (tileRows * b / bands)..<(tileRows * (b + 1) / bands) }
        // A batch of small planes, a band per image, goes several images to a band (up to about
        // 256 tiles): U is packed once for all of them, and the 16 GEMMs are that much wider
        // than a 14x14 plane's 49 tiles.
        let perImage = tileRows * tileColumns
        if n > 1 && bandTileRows == tileRows && perImage < 128 {
            var groups = (n * perImage + 255) / 256
            groups = Swift.min(n, (groups + threads - 1) / threads * threads)
            let imagesPerBand = (n + groups - 1) / groups
            transformed.withUnsafeBufferPointer { ub in
                forEachBand((n + imagesPerBand - 1) / imagesPerBand, scratch: 16 * (ci + co) * imagesPerBand * perImage,
                            cost: 32 * ci * co * imagesPerBand * perImage, workspace: workspace) { band, scratch, splits in
                    convolve(x, into: y, images: (band * imagesPerBand)..<Swift.min(n, (band + 1) * imagesPerBand),
                             tileRows: 0..<tileRows, tileColumns: tileColumns, window: w, filters: ub.baseAddress!,
                             scratch: scratch, threads: splits ? threads : 1, finish: finish)
                }
            }
            return
        }
        transformed.withUnsafeBufferPointer { ub in
            let u = ub.baseAddress!
            guard threads > 1 && !Self.wholeBandsPay(bands: n * bands, tileRows: n * tileRows, bandTileRows: bandTileRows,
                                                    threads: threads, products: ci * co) else {
                forEachBand(n * bands, scratch: 16 * (ci + co) * bandTileRows * tileColumns,
                            cost: 32 * ci * co * bandTileRows * tileColumns, workspace: workspace) { band, scratch, _ in
                    let (s, b) = band.quotientAndRemainder(dividingBy: bands)
                    convolve(x, into: y, images: s..<(s + 1), tileRows: rows(ofBand: b), tileColumns: tileColumns, window: w,
                             filters: u, scratch: scratch, threads: 1, finish: finish)
                }
                return
            }
            // All threads work on each band in three short phases, each cut into many chunks.
            let (phasedTileRows, phasedBands) = (cachedTileRows, (tileRows + cachedTileRows - 1) / cachedTileRows)
            workspace.withBuffer(count: 16 * (ci + co) * phasedTileRows * tileColumns) { scratch in
                for s in 0..<n {
                    for b in 0..<phasedBands {
                        let rows = (b * phasedTileRows)..<Swift.min(tileRows, (b + 1) * phasedTileRows)
                        convolve(x, into: y, images: s..<(s + 1), tileRows: rows, tileColumns: tileColumns, window: w,
                                 filters: u, scratch: scratch, threads: threads, finish: finish)
                    }
                }
            }
        }
    }

    /// Whether threads should take whole bands rather than share each band's phases. Whole bands
    /// keep each band's data in one core's cache, which wins where the transforms dominate (few
    /// output channels, as in DenseNet's 128 → 32 layers); but with few bands the threads
    /// finish unevenly (three bands for two threads leave one idle a third of the time), and
    /// with many channel pairs every thread streams all of U for every band, where sharing the
    /// phases gives each thread the GEMMs of its own positions, so half of U (ResNet-50's
    /// 256 → 256 layers at 14x14: 6.4 → 5.4 ms on two threads).
    private static func wholeBandsPay(bands: Int, tileRows: Int, bandTileRows: Int, threads: Int, products: Int) -> Bool {
        guard bands < 4 * threads else { return true }
        guard bands >= threads, products < 1 << 14 else { return false }
        let slowest = (bands + threads - 1) / threads * bandTileRows
        return 5 * tileRows >= 4 * threads * slowest
    }

    /// One band: the tile rows `rows` of each image in `images`, side by side. Its input tiles
    /// transformed, the 16 GEMMs, its outputs transformed and finished, each phase split across
    /// up to `threads` threads.
    private func convolve(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, images: Range<Int>,
                          tileRows rows: Range<Int>, tileColumns: Int, window w: Window, filters u: UnsafePointer<Float>,
                          scratch: UnsafeMutablePointer<Float>, threads: Int,
                          finish: (UnsafeMutablePointer<Float>, Range<Int>, Range<Int>) -> Void) {
        let (co, ci) = (outChannels, inChannels)
        let perImage = rows.count * tileColumns
        let tiles = images.count * perImage
        let (v, m) = (scratch, scratch + 16 * ci * tiles)
        parallelChunks(ci, cost: 48 * tiles, threads: threads) { _, channels in
            for (k, s) in images.enumerated() {
                transformInput(x + s * ci * w.inputHeight * w.inputWidth, channels: channels, tileRows: rows,
                               tileColumns: tileColumns, window: w, into: v + k * perImage, bandTiles: tiles)
            }
        }
        parallelChunks(16, cost: 2 * co * ci * tiles, threads: threads) { _, positions in
            for xi in positions {
                sgemm(m: co, n: tiles, k: ci, a: u + xi * co * ci, lda: ci, b: v + xi * ci * tiles,
                      ldb: tiles, c: m + xi * co * tiles, ldc: tiles, parallel: false)
            }
        }
        let outputRows = (2 * rows.lowerBound)..<Swift.min(w.outputHeight, 2 * rows.upperBound)
        parallelChunks(co, cost: 48 * tiles, threads: threads) { _, channels in
            for (k, s) in images.enumerated() {
                let plane = y + s * co * w.outputHeight * w.outputWidth
                transformOutput(m + k * perImage, channels: channels, tileRows: rows, tileColumns: tileColumns, window: w,
                                into: plane, bandTiles: tiles)
                finish(plane, outputRows, channels)
            }
        }
    }

    /// V[ξ][in][tile] = (Bᵀ d B)[ξ] for the 4x4 input patch d of every tile in `tileRows` and input
    /// channel in `channels`, reading zero outside the input. The transform is separable: each
    /// input row is transformed along the width once (d B, over a zero-bordered copy so the loop
    /// has no edge cases), then four such rows combine down the height into contiguous runs of V.
    private func transformInput(_ x: UnsafePointer<Float>, channels: Range<Int>, tileRows: Range<Int>, tileColumns: Int,
                                window w: Window, into v: UnsafeMutablePointer<Float>, bandTiles tiles: Int) {
        let (H, W) = (w.inputHeight, w.inputWidth)
        let step = inChannels * tiles
        let span = 2 * tileColumns + 2
        withUnsafeTemporaryAllocation(of: Float.self, capacity: span + 16 * tileColumns) { buffer in
            let padded = buffer.baseAddress!
            let rows = padded + span
            let first = Swift.min(Swift.max(w.padLeft, 0), span)
            let end = Swift.max(first, Swift.min(span, w.padLeft + W))
            func slot(_ row: Int) -> UnsafeMutablePointer<Float> { rows + 4 * (row & 3) * tileColumns }
            for c in channels {
                let plane = x + c * H * W
                for (r, tileRow) in tileRows.enumerated() {
                    // Input row 2r + i of the band lives in slot (2r + i) mod 4, so the two rows a
                    // tile row shares with the one above are transformed once, not twice.
                    for i in (r == 0 ? 0 : 2)..<4 {
                        let ih = 2 * tileRow - w.padTop + i
                        let h = slot(2 * r + i)
                        guard ih >= 0 && ih < H else {
                            h.update(repeating: 0, count: 4 * tileColumns)
                            continue
                        }
                        padded.update(repeating: 0, count: first)
                        (padded + first).update(from: plane + ih * W + first - w.padLeft, count: end - first)
                        (padded + end).update(repeating: 0, count: span - end)
                        transformInputRow(padded, into: h, tileColumns: tileColumns)
                    }
                    // Bᵀ applied down the height: row i of the tile from rows 0...3 of d B.
                    let out = v + c * tiles + r * tileColumns
                    for j in 0..<4 {
                        let (d0, d1, d2, d3) = (slot(2 * r) + j * tileColumns, slot(2 * r + 1) + j * tileColumns,
                                                slot(2 * r + 2) + j * tileColumns, slot(2 * r + 3) + j * tileColumns)
                        let (v0, v1, v2, v3) = (out + j * step, out + (4 + j) * step, out + (8 + j) * step, out + (12 + j) * step)
                        // A vector at a time: the compiler vectorizes only long rows, behind alias checks.
                        var t = 0
                        while t + Lanes.scalarCount <= tileColumns {
                            storeInputTransform(loadLanes(d0 + t), loadLanes(d1 + t), loadLanes(d2 + t), loadLanes(d3 + t),
                                                into: (v0 + t, v1 + t, v2 + t, v3 + t))
                            t += Lanes.scalarCount
                        }
                        while t < tileColumns {
                            v0[t] = d0[t] - d2[t]
                            v1[t] = d1[t] + d2[t]
                            v2[t] = d2[t] - d1[t]
                            v3[t] = d1[t] - d3[t]
                            t += 1
                        }
                    }
                }
            }
        }
    }

    /// d B along one zero-bordered input row: tile t reads a, b, c, d at 2t...2t + 3 and gives
    /// a - c, b + c, c - b, b - d, each output row `tileColumns` long. A vector of tiles takes its
    /// a and b from the even and odd lanes of one double-width load and c and d from the next, so
    /// the stride-2 reads vectorize.
    @inline(__always)
    private func transformInputRow(_ padded: UnsafePointer<Float>, into h: UnsafeMutablePointer<Float>, tileColumns: Int) {
        let (h0, h1, h2, h3) = (h, h + tileColumns, h + 2 * tileColumns, h + 3 * tileColumns)
        var t = 0
        while t + Lanes.scalarCount <= tileColumns {
            let (here, next) = (loadLanes(padded + 2 * t, as: PairedLanes.self), loadLanes(padded + 2 * t + 2, as: PairedLanes.self))
            storeInputTransform(here.evenHalf, here.oddHalf, next.evenHalf, next.oddHalf, into: (h0 + t, h1 + t, h2 + t, h3 + t))
            t += Lanes.scalarCount
        }
        while t < tileColumns {
            let (a, b, c, d) = (padded[2 * t], padded[2 * t + 1], padded[2 * t + 2], padded[2 * t + 3])
            h0[t] = a - c
            h1[t] = b + c
            h2[t] = c - b
            h3[t] = b - d
            t += 1
        }
    }

    /// Bᵀ on a vector of tiles' columns a, b, c, d (along either axis): a - c, b + c, c - b
    /// and b - d.
    @inline(__always)
    private func storeInputTransform(_ a: Lanes, _ b: Lanes, _ c: Lanes, _ d: Lanes,
                                     into rows: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
                                                 UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)) {
        storeLanes(a - c, rows.0)
        storeLanes(b + c, rows.1)
        storeLanes(c - b, rows.2)
        storeLanes(b - d, rows.3)
    }

    /// Y = Aᵀ M A, the 2x2 outputs of every tile in the output `channels`, clipped at the output's
    /// edges: Aᵀ down the height over contiguous runs of tiles first, then A along the width.
    private func transformOutput(_ m: UnsafePointer<Float>, channels: Range<Int>, tileRows: Range<Int>, tileColumns: Int,
                                 window w: Window, into y: UnsafeMutablePointer<Float>, bandTiles tiles: Int) {
        let (Ho, Wo) = (w.outputHeight, w.outputWidth)
        let step = outChannels * tiles
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 8 * tileColumns + 2 * (2 * tileColumns)) { buffer in
            let sums = buffer.baseAddress!
            let line = sums + 8 * tileColumns
            for o in channels {
                let plane = y + o * Ho * Wo
                for (r, tileRow) in tileRows.enumerated() {
                    let p = m + o * tiles + r * tileColumns
                    for j in 0..<4 {
                        let (m0, m1, m2, m3) = (p + j * step, p + (4 + j) * step, p + (8 + j) * step, p + (12 + j) * step)
                        let (top, bottom) = (sums + j * tileColumns, sums + (4 + j) * tileColumns)
                        var t = 0
                        while t + Lanes.scalarCount <= tileColumns {
                            let (a, b, c, d) = (loadLanes(m0 + t, as: Lanes.self), loadLanes(m1 + t, as: Lanes.self),
                                                loadLanes(m2 + t, as: Lanes.self), loadLanes(m3 + t, as: Lanes.self))
                            storeLanes(a + b + c, top + t)
                            storeLanes(b - c - d, bottom + t)
                            t += Lanes.scalarCount
                        }
                        while t < tileColumns {
                            top[t] = m0[t] + m1[t] + m2[t]
                            bottom[t] = m1[t] - m2[t] - m3[t]
                            t += 1
                        }
                    }
                    for half in 0..<2 {
                        let oh = 2 * tileRow + half
                        guard oh < Ho else { break }
                        // An odd width has no room for the last tile's second column: that row goes
                        // through `line`.
                        let row = Wo == 2 * tileColumns ? plane + oh * Wo : line
                        transformOutputRow(sums + 4 * half * tileColumns, into: row, tileColumns: tileColumns)
                        if row == line { (plane + oh * Wo).update(from: line, count: Wo) }
                    }
                }
            }
        }
    }

    /// A along one row of tiles: from the four rows s0...s3 (`tileColumns` apart) of Aᵀ M, tile
    /// t writes s0 + s1 + s2 and s1 - s2 - s3 at 2t and 2t + 1, a vector of tiles interleaved per store.
    @inline(__always)
    private func transformOutputRow(_ s: UnsafePointer<Float>, into row: UnsafeMutablePointer<Float>, tileColumns: Int) {
        let (s0, s1, s2, s3) = (s, s + tileColumns, s + 2 * tileColumns, s + 3 * tileColumns)
        var t = 0
        while t + Lanes.scalarCount <= tileColumns {
            let (a, b, c, d) = (loadLanes(s0 + t, as: Lanes.self), loadLanes(s1 + t, as: Lanes.self),
                                loadLanes(s2 + t, as: Lanes.self), loadLanes(s3 + t, as: Lanes.self))
            let (even, odd) = (a + b + c, b - c - d)
            storeLanes(interleaved(even, odd), row + 2 * t)
            t += Lanes.scalarCount
        }
        while t < tileColumns {
            row[2 * t] = s0[t] + s1[t] + s2[t]
            row[2 * t + 1] = s1[t] - s2[t] - s3[t]
            t += 1
        }
    }
}
