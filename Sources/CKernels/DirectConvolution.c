#include "DirectConvolution.h"

#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// Four output channels by up to two vectors of eight output columns: eight accumulators (as
// many as two FMA units with a latency of four keep busy), two input vectors and a broadcast
// weight. Twelve accumulators in AVX2's 16 registers made clang shuffle and spill them, at
// half the speed. im2col + GEMM multiplies panels only 27-147 deep for these layers, and
// spends about as long unrolling and packing them as multiplying.
enum { channelBlock = 4, tileChannels = 8, tilePositions = 8, maxTileBlocks = 3, wideChannels = 16, maxWideBlocks = 2, lanes = 8, maxVectors = 2,
       maxTaps = 4096, maxSide = 1 << 15 };

static int roundUp(int x, int m) { return (x + m - 1) / m * m; }

static int taps(const salient_direct_convolution *s) { return s->inChannels * s->kernelHeight * s->kernelWidth; }

/// Floats per phase of a laid-out input row. A phase holds the columns congruent modulo the
/// stride, so that the output columns of a vector read contiguous input at every horizontal tap;
/// it has room for the widest tap offset and a whole last vector.
static int phaseWidth(const salient_direct_convolution *s) {
    return roundUp(roundUp(s->outputWidth, lanes) + (s->kernelWidth - 1) / s->strideWidth, lanes);
}

static int inputRows(const salient_direct_convolution *s, int rows) {
    return (rows - 1) * s->strideHeight + s->kernelHeight;
}

/// Strides past the kernel would lay out input rows and columns that no tap reads, and sides
/// past 32768 could overflow the int offsets into a band: such layers keep im2col.
bool salient_direct_convolution_applies(const salient_direct_convolution *s) {
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && s->outChannels % channelBlock == 0
        && s->inChannels > 0 && taps(s) <= maxTaps && s->kernelHeight > 0 && s->kernelWidth > 0
        && s->strideHeight > 0 && s->strideHeight <= s->kernelHeight && s->strideWidth > 0
        && s->strideWidth <= s->kernelWidth && s->outputHeight > 0 && s->outputWidth > 0
        && s->inputHeight <= maxSide && s->inputWidth <= maxSide;
#else
    (void)s;
    return false;
#endif
}

size_t salient_direct_convolution_packed_count(const salient_direct_convolution *s) {
    return (size_t)s->outChannels * taps(s);
}

/// Whether output rows are computed a tile of eight output positions by eight output channels
/// (the channels in the lanes, see `multiplyTiles`) rather than a vector of columns by four
/// channels: with AVX-512VL's thirty-two vector registers, channels in eights, at least 24 of
/// them (three blocks: 24 accumulators) and 192 taps (the turn of each tile into rows of
/// positions then costs little). Measured on the kernel alone, one thread: 3x3 over 48-264
/// channels a group 1.15-1.35x faster on 7- to 112-wide planes; 16 channels 0.9-1.0x, 8 channels
/// 0.93x, a 3-channel stem 0.8x (bench/results/2026-12-05-wide-session8.md). Channels in
/// sixteens take `wideTiles` instead.
static bool eightChannelTiles(const salient_direct_convolution *s) {
#if defined(__x86_64__)
    return s->outChannels % tileChannels == 0 && s->outChannels >= maxTileBlocks * tileChannels && taps(s) >= 192
        && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
#else
    (void)s;
    return false;
#endif
}

/// Whether output rows are computed in tiles of eight positions by blocks of sixteen channels,
/// one 512-bit vector each (`multiplyWideTile`): channels in sixteens, at least 144 taps. Kernel
/// alone, one thread, against the columns (groups of 16, RegNetX-400MF's and -800MF's) and the
/// eight-channel tiles (wider groups): 3x3 over groups of 16 1.1-1.2x faster on 14- to 56-wide
/// planes and stride 2, 1.05x on 7x7; groups of 32 1.08x, 112 1.05x, 48 1.0x, ResNet's 7x7/2
/// stem (147 taps) unchanged (bench/results/2026-12-05-sixteen-session9.md).
static bool wideTiles(const salient_direct_convolution *s) {
#if defined(__x86_64__)
    return s->outChannels % wideChannels == 0 && taps(s) >= 144
        && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
    (void)s;
    return false;
#endif
}

bool salient_direct_convolution_position_tiles(const salient_direct_convolution *s) {
    return wideTiles(s) || eightChannelTiles(s);
}

/// Output channels a block of the packed weights holds.
static int packedBlock(const salient_direct_convolution *s) {
    return wideTiles(s) ? wideChannels : eightChannelTiles(s) ? tileChannels : channelBlock;
}

/// Blocks of four output channels (eight for position tiles), tap-major within a block, so that
/// the weights of one tap are one cache line's broadcasts or one vector.
void salient_direct_convolution_pack(const salient_direct_convolution *s, const float *weight, float *packed) {
    const int t = taps(s), block = packedBlock(s);
    for (int o = 0; o < s->outChannels; o++)
        for (int k = 0; k < t; k++)
            packed[((size_t)(o / block) * t + k) * block + o % block] = weight[(size_t)o * t + k];
}

/// The same for the convolution that carries a layer's output gradient back to its input (see
/// the header): tap q of input channel c and output channel o is the layer's tap kk-1-q (turned
/// by 180°) of its output channel c and input channel o.
void salient_direct_convolution_pack_input_gradient(const salient_direct_convolution *s, const float *weight,
                                                    float *packed) {
    const int t = taps(s), kk = s->kernelHeight * s->kernelWidth, block = packedBlock(s);
    for (int o = 0; o < s->outChannels; o++)
        for (int c = 0; c < s->inChannels; c++)
            for (int q = 0; q < kk; q++)
                packed[((size_t)(o / block) * t + c * kk + q) * block + o % block] =
                    weight[((size_t)c * s->outChannels + o) * kk + kk - 1 - q];
}

size_t salient_direct_convolution_scratch(const salient_direct_convolution *s, int rows) {
    return (size_t)s->inChannels * inputRows(s, rows) * s->strideWidth * phaseWidth(s);
}

#if defined(__x86_64__)

/// `p` moved by `n` floats, computed on the address: a masked load's vector may begin before its
/// row, in lanes it does not read.
static inline const float *shifted(const float *p, int n) {
    return (const float *)((uintptr_t)p + (intptr_t)n * (intptr_t)sizeof(float));
}

/// The input rows that output rows firstRow..<firstRow+rows read, zero-padded, each split into
/// its column phases. At strides 1 and 2 a phase's vectors are masked loads of the columns inside
/// the row (at stride 2 one pair of them gives both phases, the even and odd lanes): RegNet's and
/// ResNeXt's small planes had spent up to half the layer on three library calls per phase of a
/// row (two memsets and a memcpy, at stride 2 a copy a scalar at a time), for 7-16 columns each.
__attribute__((target("avx2")))
static void layOut(const salient_direct_convolution *s, const float *x, int firstRow, int rows, float *scratch) {
    const int J = phaseWidth(s), sw = s->strideWidth, R = inputRows(s, rows), W = s->inputWidth;
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), before = _mm256_set1_epi32(-1);
    const __m256i width = _mm256_set1_epi32(W);
    for (int c = 0; c < s->inChannels; c++) {
        const float *plane = x + (size_t)c * s->inputHeight * W;
        for (int r = 0; r < R; r++) {
            float *out = scratch + ((size_t)c * R + r) * sw * J;
            const int row = firstRow * s->strideHeight + r - s->padTop;
            if (row < 0 || row >= s->inputHeight) {
                memset(out, 0, sizeof(float) * sw * J);
                continue;
            }
            const float *in = plane + (size_t)row * W;
            if (sw <= 2) {
                // Phase p holds column j·sw + p - padLeft; a vector's lanes past either end of the row read nothing.
                for (int j = 0; j < J; j += lanes) {
                    const int column = j * sw - s->padLeft;
                    const __m256i columns = _mm256_add_epi32(_mm256_set1_epi32(column), iota);
                    const __m256i inside = _mm256_and_si256(_mm256_cmpgt_epi32(columns, before), _mm256_cmpgt_epi32(width, columns));
                    const __m256 a = _mm256_maskload_ps(shifted(in, column), inside);
                    if (sw == 1) {
                        _mm256_storeu_ps(out + j, a);
                        continue;
                    }
                    const __m256i next = _mm256_add_epi32(columns, _mm256_set1_epi32(lanes));
                    const __m256i insideNext = _mm256_and_si256(_mm256_cmpgt_epi32(next, before), _mm256_cmpgt_epi32(width, next));
                    const __m256 b = _mm256_maskload_ps(shifted(in, column + lanes), insideNext);
                    // a0 a2 b0 b2 | a4 a6 b4 b6 (and the odd lanes likewise), then 64-bit quarters 0 2 1 3.
                    const __m256 even = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
                    const __m256 odd = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
                    _mm256_storeu_ps(out + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), _MM_SHUFFLE(3, 1, 2, 0))));
                    _mm256_storeu_ps(out + J + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(odd), _MM_SHUFFLE(3, 1, 2, 0))));
                }
                continue;
            }
            for (int phase = 0; phase < sw; phase++) {
                // Phase j holds column j·sw + phase - padLeft: zero outside first..<end.
                const int offset = phase - s->padLeft;
                const int first = offset >= 0 ? 0 : (-offset + sw - 1) / sw;
                int end = (W - offset + sw - 1) / sw;
                end = end < first ? first : end > J ? J : end;
                float *o = out + phase * J;
                memset(o, 0, sizeof(float) * first);
                for (int j = first; j < end; j++) o[j] = in[j * sw + offset];
                memset(o + end, 0, sizeof(float) * (J - end));
            }
        }
    }
}

/// Floats per phase of a row laid out for the position tiles, which read single floats: the
/// inputs of the output columns and no more (7 + 2 for RegNet's 7x7 planes, where `phaseWidth`
/// lays out 16).
static int tilePhaseWidth(const salient_direct_convolution *s) {
    return s->outputWidth + (s->kernelWidth - 1) / s->strideWidth;
}

/// `layOut` for the position tiles, `tilePhaseWidth` floats a phase: at strides 1 and 2 a phase's
/// sixteen columns are one masked 512-bit load (at stride 2 two, split into even and odd lanes
/// by two permutes) and one masked store, so that a 7-wide row is one load and one store.
__attribute__((target("avx2,avx512f")))
static void layOutTiles(const salient_direct_convolution *s, const float *x, int firstRow, int rows, float *scratch) {
    // The shape's fields in locals: the masked stores may alias anything, and clang reloaded
    // them from `s` after every one.
    const int J = tilePhaseWidth(s), sw = s->strideWidth, R = inputRows(s, rows), W = s->inputWidth;
    const int H = s->inputHeight, top = firstRow * s->strideHeight - s->padTop, left = s->padLeft;
    const int channels = s->inChannels, rowFloats = sw * J;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i width = _mm512_set1_epi32(W), zero = _mm512_setzero_si512();
    for (int c = 0; c < channels; c++) {
        const float *plane = x + (size_t)c * H * W;
        for (int r = 0; r < R; r++) {
            float *out = scratch + ((size_t)c * R + r) * rowFloats;
            const int row = top + r;
            if (row < 0 || row >= H) {
                // Masked stores rather than a call to memset, which cost as much as the rest of a
                // 7x7 plane's lay-out.
                for (int j = 0; j < rowFloats; j += 16)
                    _mm512_mask_storeu_ps(out + j, rowFloats - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (rowFloats - j)) - 1),
                                          _mm512_setzero_ps());
                continue;
            }
            const float *in = plane + (size_t)row * W;
            if (sw > 2) {
                for (int phase = 0; phase < sw; phase++) {
                    // Phase j holds column j·sw + phase - padLeft: zero outside first..<end.
                    const int offset = phase - left;
                    const int first = offset >= 0 ? 0 : (-offset + sw - 1) / sw;
                    int end = (W - offset + sw - 1) / sw;
                    end = end < first ? first : end > J ? J : end;
                    float *o = out + phase * J;
                    memset(o, 0, sizeof(float) * first);
                    for (int j = first; j < end; j++) o[j] = in[j * sw + offset];
                    memset(o + end, 0, sizeof(float) * (J - end));
                }
                continue;
            }
            for (int j = 0; j < J; j += 16) {
                const __mmask16 stored = J - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (J - j)) - 1);
                const int column = j * sw - left;
                const __m512i columns = _mm512_add_epi32(_mm512_set1_epi32(column), iota);
                const __mmask16 inside = _mm512_cmpge_epi32_mask(columns, zero) & _mm512_cmplt_epi32_mask(columns, width);
                const __m512 a = _mm512_maskz_loadu_ps(inside, shifted(in, column));
                if (sw == 1) {
                    _mm512_mask_storeu_ps(out + j, stored, a);
                    continue;
                }
                const __m512i next = _mm512_add_epi32(columns, _mm512_set1_epi32(16));
                const __mmask16 insideNext = _mm512_cmpge_epi32_mask(next, zero) & _mm512_cmplt_epi32_mask(next, width);
                const __m512 b = _mm512_maskz_loadu_ps(insideNext, shifted(in, column + 16));
                _mm512_mask_storeu_ps(out + j, stored, _mm512_permutex2var_ps(a, even, b));
                _mm512_mask_storeu_ps(out + J + j, stored, _mm512_permutex2var_ps(a, odd, b));
            }
        }
    }
}

/// A vector of output at `y`, `room` floats before the end of the last row this call writes in
/// its plane: stored whole when its lanes past the row's end land in rows the call writes later
/// (they are overwritten then), through `mask` otherwise: AMD's masked stores are microcoded, and
/// on 7-, 14- and 28-wide planes every row ends mid-vector (RegNetX-400MF's grouped layers alone
/// 1.04-1.09x faster without them, bench/results/2026-12-04-lanes-session7.md).
__attribute__((target("avx2"), always_inline))
static inline void store(float *y, ptrdiff_t room, __m256i mask, __m256 v) {
    if (room >= lanes) _mm256_storeu_ps(y, v);
    else _mm256_maskstore_ps(y, mask, v);
}

/// One block of four channels by `vectors` vectors of output, `inputStep` floats apart in the
/// laid-out input and `outputStep` apart in the output: vectors of one row's columns, the last
/// one ending at `lastMask`, or (`rows`) the one vector of consecutive rows of a plane at most
/// eight wide, each ending at it; `room` as for `store`, from `y`. Inlined with constant
/// `vectors` and `rows` so that the accumulators stay in registers.
__attribute__((target("avx2,fma"), always_inline))
static inline void multiplyBlock(int vectors, int rows, const float *input, size_t inputStep, const int *offsets,
                                 int count, const float *weight, float *y, size_t outputStep, size_t plane,
                                 __m256i lastMask, ptrdiff_t room) {
    __m256 acc[channelBlock][maxVectors];
    for (int o = 0; o < channelBlock; o++)
        for (int v = 0; v < vectors; v++) acc[o][v] = _mm256_setzero_ps();
    for (int t = 0; t < count; t++) {
        const float *in = input + offsets[t];
        const float *w = weight + t * channelBlock;
        __m256 x[maxVectors];
        for (int v = 0; v < vectors; v++) x[v] = _mm256_loadu_ps(in + v * inputStep);
        for (int o = 0; o < channelBlock; o++) {
            const __m256 wo = _mm256_broadcast_ss(w + o);
            for (int v = 0; v < vectors; v++) acc[o][v] = _mm256_fmadd_ps(wo, x[v], acc[o][v]);
        }
    }
    for (int o = 0; o < channelBlock; o++) {
        for (int v = 0; v < vectors - 1; v++) {
            if (rows) store(y + o * plane + v * outputStep, room - (ptrdiff_t)(v * outputStep), lastMask, acc[o][v]);
            else _mm256_storeu_ps(y + o * plane + v * outputStep, acc[o][v]);
        }
        store(y + o * plane + (vectors - 1) * outputStep, room - (ptrdiff_t)((vectors - 1) * outputStep), lastMask,
              acc[o][vectors - 1]);
    }
}

/// Eight channels (two blocks, `blockStep` floats apart in `weight`) by the one vector at
/// `input`, ending at `mask` (`room` as for `store`): eight accumulators for a row's odd last
/// vector, which four channels by one vector left to four FMA chains, at half the speed (a plane
/// seven wide in row pairs ends on a single row, 56 wide is 2 + 2 + 2 + 1 vectors).
__attribute__((target("avx2,fma"), always_inline))
static inline void multiplyEightChannels(const float *input, const int *offsets, int count, const float *weight,
                                         size_t blockStep, float *y, size_t plane, __m256i mask, ptrdiff_t room) {
    __m256 acc[2 * channelBlock];
    for (int o = 0; o < 2 * channelBlock; o++) acc[o] = _mm256_setzero_ps();
    for (int t = 0; t < count; t++) {
        const __m256 x = _mm256_loadu_ps(input + offsets[t]);
        const float *w = weight + t * channelBlock;
        for (int o = 0; o < channelBlock; o++) {
            acc[o] = _mm256_fmadd_ps(_mm256_broadcast_ss(w + o), x, acc[o]);
            acc[channelBlock + o] = _mm256_fmadd_ps(_mm256_broadcast_ss(w + blockStep + o), x, acc[channelBlock + o]);
        }
    }
    for (int o = 0; o < 2 * channelBlock; o++) store(y + o * plane, room, mask, acc[o]);
}

__attribute__((target("avx2,fma")))
static void multiplyRows(const salient_direct_convolution *s, const float *scratch, const float *packed, float *y,
                         int firstRow, int endRow) {
    const int J = phaseWidth(s), sw = s->strideWidth, kh = s->kernelHeight, kw = s->kernelWidth;
    const int count = taps(s), R = inputRows(s, endRow - firstRow), Wo = s->outputWidth;
    const size_t plane = (size_t)s->outputHeight * Wo;
    int offsets[maxTaps];
    for (int c = 0, t = 0; c < s->inChannels; c++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++, t++) offsets[t] = ((c * R + i) * sw + j % sw) * J + j / sw;
    // The row's vectors in blocks of two, the last one masked where the row ends mid-vector, and
    // an odd last vector eight channels at a time.
    const int vectorsPerRow = (Wo + lanes - 1) / lanes;
    const size_t rowStep = (size_t)s->strideHeight * sw * J;
    for (int row = firstRow; row < endRow; row++) {
        const float *input = scratch + (size_t)(row - firstRow) * rowStep;
        // Rows of one vector (planes at most eight wide: RegNet's and ResNeXt's 7x7 layers) go two
        // at a time, so that eight accumulators rather than four keep both FMA units busy: 3x3
        // over 25 groups of 16 channels on 7x7 had run at half the speed of 14x14.
        if (vectorsPerRow == 1 && row + 1 < endRow) {
            const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(Wo), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            for (int o = 0; o < s->outChannels; o += channelBlock)
                multiplyBlock(2, 1, input, rowStep, offsets, count, packed + (size_t)o * count,
                              y + o * plane + (size_t)row * Wo, Wo, plane, mask, (ptrdiff_t)(endRow - row) * Wo);
            row++;
            continue;
        }
        for (int o = 0; o < s->outChannels; o += channelBlock) {
            const float *weight = packed + (size_t)o * count;
            float *out = y + o * plane + (size_t)row * Wo;
            for (int b = 0; b < vectorsPerRow / maxVectors; b++) {
                const int column = b * maxVectors * lanes, last = Wo - column - lanes;
                const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(last), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                multiplyBlock(2, 0, input + column, lanes, offsets, count, weight, out + column, lanes, plane, mask,
                              (ptrdiff_t)(endRow - row) * Wo - column);
            }
        }
        if (vectorsPerRow % maxVectors) {
            const int column = vectorsPerRow / maxVectors * maxVectors * lanes;
            const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(Wo - column), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            float *out = y + (size_t)row * Wo + column;
            int o = 0;
            for (; o + 2 * channelBlock <= s->outChannels; o += 2 * channelBlock)
                multiplyEightChannels(input + column, offsets, count, packed + (size_t)o * count,
                                      (size_t)count * channelBlock, out + o * plane, plane, mask,
                                      (ptrdiff_t)(endRow - row) * Wo - column);
            if (o < s->outChannels)
                multiplyBlock(1, 0, input + column, lanes, offsets, count, packed + (size_t)o * count, out + o * plane,
                              lanes, plane, mask, (ptrdiff_t)(endRow - row) * Wo - column);
        }
    }
}

/// `blocks` blocks of eight output channels by the eight output positions whose laid-out input
/// starts at `bases`: per tap, one vector of each block's weights and a broadcast of each
/// position's input, so that no lane is spent past a row's end (RegNet's 7-, 14- and 28-wide
/// planes left an eighth of the column vectors' lanes idle) and a tap's loads are `blocks` + 8
/// for 8 · `blocks` FMAs (four channels by two column vectors: six for eight). Each block is
/// turned into eight rows of positions and stored at `y`, one channel a `plane` apart, all eight
/// positions when `count` is 8 and `count` of them otherwise. Inlined with a constant `blocks`.
__attribute__((target("avx2,fma,avx512f,avx512vl"), always_inline))
static inline void multiplyTile(int blocks, const float *const *bases, const int *offsets, int taps,
                                const float *weight, size_t blockStep, float *y, size_t plane, int count) {
    __m256 acc[maxTileBlocks][tilePositions];
    for (int b = 0; b < blocks; b++)
        for (int p = 0; p < tilePositions; p++) acc[b][p] = _mm256_setzero_ps();
    const float *b0 = bases[0], *b1 = bases[1], *b2 = bases[2], *b3 = bases[3];
    const float *b4 = bases[4], *b5 = bases[5], *b6 = bases[6], *b7 = bases[7];
    for (int t = 0; t < taps; t++) {
        const int k = offsets[t];
        __m256 w[maxTileBlocks];
        for (int b = 0; b < blocks; b++) w[b] = _mm256_loadu_ps(weight + b * blockStep + (size_t)t * tileChannels);
        const __m256 x[tilePositions] = {
            _mm256_broadcast_ss(b0 + k), _mm256_broadcast_ss(b1 + k), _mm256_broadcast_ss(b2 + k), _mm256_broadcast_ss(b3 + k),
            _mm256_broadcast_ss(b4 + k), _mm256_broadcast_ss(b5 + k), _mm256_broadcast_ss(b6 + k), _mm256_broadcast_ss(b7 + k)};
        for (int p = 0; p < tilePositions; p++)
            for (int b = 0; b < blocks; b++) acc[b][p] = _mm256_fmadd_ps(w[b], x[p], acc[b][p]);
    }
    for (int b = 0; b < blocks; b++) {
        // An 8x8 transpose: rows of channels at each position into rows of positions of each channel.
        __m256 *r = acc[b];
        const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
        const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
        const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
        const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
        const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
        const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
        const __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
        const __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
        const __m256 rows[tileChannels] = {
            _mm256_permute2f128_ps(u0, u4, 0x20), _mm256_permute2f128_ps(u1, u5, 0x20),
            _mm256_permute2f128_ps(u2, u6, 0x20), _mm256_permute2f128_ps(u3, u7, 0x20),
            _mm256_permute2f128_ps(u0, u4, 0x31), _mm256_permute2f128_ps(u1, u5, 0x31),
            _mm256_permute2f128_ps(u2, u6, 0x31), _mm256_permute2f128_ps(u3, u7, 0x31)};
        float *out = y + (size_t)b * tileChannels * plane;
        if (count == tilePositions) {
            for (int o = 0; o < tileChannels; o++) _mm256_storeu_ps(out + o * plane, rows[o]);
        } else {
            const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            for (int o = 0; o < tileChannels; o++) _mm256_maskstore_ps(out + o * plane, mask, rows[o]);
        }
    }
}

/// Each tap's offset from a position's first input in the position tiles' lay-out of `rows` output rows.
static void tileOffsets(const salient_direct_convolution *s, int rows, int *offsets) {
    const int J = tilePhaseWidth(s), sw = s->strideWidth, kh = s->kernelHeight, kw = s->kernelWidth, R = inputRows(s, rows);
    for (int c = 0, t = 0; c < s->inChannels; c++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++, t++) offsets[t] = ((c * R + i) * sw + j % sw) * J + j / sw;
}

/// Where in `scratch` the inputs of the band's `n` positions from `first` start. Positions past
/// the band's end read the first one's input; their results are not stored.
static void tileBases(const salient_direct_convolution *s, const float *scratch, int first, int n,
                      const float *bases[tilePositions]) {
    const size_t rowStep = (size_t)s->strideHeight * s->strideWidth * tilePhaseWidth(s);
    const int Wo = s->outputWidth;
    for (int p = 0; p < tilePositions; p++) {
        const int q = first + (p < n ? p : 0);
        bases[p] = scratch + (size_t)(q / Wo) * rowStep + q % Wo;
    }
}

/// Output rows firstRow..<endRow from the laid-out `scratch`, eight consecutive output positions
/// of the band at a time (across row ends), by three blocks of eight channels (twenty-four
/// accumulators), the last one or two blocks of the channels alone.
__attribute__((target("avx2,fma,avx512f,avx512vl")))
static void multiplyTiles(const salient_direct_convolution *s, const float *scratch, const float *packed, float *y,
                          int firstRow, int endRow) {
    const int count = taps(s), Wo = s->outputWidth;
    const size_t plane = (size_t)s->outputHeight * Wo, blockStep = (size_t)count * tileChannels;
    int offsets[maxTaps];
    tileOffsets(s, endRow - firstRow, offsets);
    const int positions = (endRow - firstRow) * Wo;
    for (int first = 0; first < positions; first += tilePositions) {
        const int n = positions - first < tilePositions ? positions - first : tilePositions;
        const float *bases[tilePositions];
        tileBases(s, scratch, first, n, bases);
        float *out = y + (size_t)firstRow * Wo + first;
        int o = 0;
        for (; o + maxTileBlocks * tileChannels <= s->outChannels; o += maxTileBlocks * tileChannels)
            multiplyTile(maxTileBlocks, bases, offsets, count, packed + (size_t)o * count, blockStep, out + o * plane, plane, n);
        if (s->outChannels - o == 2 * tileChannels)
            multiplyTile(2, bases, offsets, count, packed + (size_t)o * count, blockStep, out + o * plane, plane, n);
        else if (s->outChannels - o == tileChannels)
            multiplyTile(1, bases, offsets, count, packed + (size_t)o * count, blockStep, out + o * plane, plane, n);
    }
}

/// `blocks` blocks of sixteen output channels (one 512-bit vector each) by the `positions` (8,
/// or 4 for a band's last few) output positions whose laid-out input starts at `bases`, the
/// input taken by the FMAs' own broadcast operands; stored as `multiplyTile` stores, `count`
/// positions. Four positions are four FMA chains, as many as Zen 4's one 512-bit FMA a cycle
/// with a latency of four needs: a 7x7 plane's 49 positions are six tiles of eight and one of
/// four rather than seven of eight. Inlined with constant `blocks` and `positions`.
__attribute__((target("avx2,fma,avx512f,avx512vl,avx512dq"), always_inline))
static inline void multiplyWideTile(int blocks, int positions, const float *const *bases, const int *offsets, int taps,
                                    const float *weight, size_t blockStep, float *y, size_t plane, int count) {
    __m512 acc[maxWideBlocks][tilePositions];
    for (int b = 0; b < blocks; b++)
        for (int p = 0; p < positions; p++) acc[b][p] = _mm512_setzero_ps();
    const float *b0 = bases[0], *b1 = bases[1], *b2 = bases[2], *b3 = bases[3];
    const float *b4 = bases[4], *b5 = bases[5], *b6 = bases[6], *b7 = bases[7];
    for (int t = 0; t < taps; t++) {
        const int k = offsets[t];
        __m512 w[maxWideBlocks];
        for (int b = 0; b < blocks; b++) w[b] = _mm512_loadu_ps(weight + b * blockStep + (size_t)t * wideChannels);
        __m512 x[tilePositions];
        x[0] = _mm512_set1_ps(b0[k]), x[1] = _mm512_set1_ps(b1[k]), x[2] = _mm512_set1_ps(b2[k]), x[3] = _mm512_set1_ps(b3[k]);
        if (positions > 4)
            x[4] = _mm512_set1_ps(b4[k]), x[5] = _mm512_set1_ps(b5[k]), x[6] = _mm512_set1_ps(b6[k]), x[7] = _mm512_set1_ps(b7[k]);
        for (int p = 0; p < positions; p++)
            for (int b = 0; b < blocks; b++) acc[b][p] = _mm512_fmadd_ps(w[b], x[p], acc[b][p]);
    }
    const __mmask8 mask = (__mmask8)((1u << count) - 1);
    for (int b = 0; b < blocks; b++) {
        // In each 128-bit lane L, a 4x4 transpose: u[i] (from positions 0-3) then holds channel
        // 4L + i at those positions; for eight positions u[4 + i] holds the same at 4-7.
        __m512 *r = acc[b];
        __m512 u[tilePositions];
        for (int h = 0; h < positions; h += 4) {
            const __m512 t0 = _mm512_unpacklo_ps(r[h], r[h + 1]), t1 = _mm512_unpackhi_ps(r[h], r[h + 1]);
            const __m512 t2 = _mm512_unpacklo_ps(r[h + 2], r[h + 3]), t3 = _mm512_unpackhi_ps(r[h + 2], r[h + 3]);
            u[h] = _mm512_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), u[h + 1] = _mm512_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
            u[h + 2] = _mm512_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), u[h + 3] = _mm512_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
        }
        float *out = y + (size_t)b * wideChannels * plane;
        if (positions == 4) {
            for (int i = 0; i < 4; i++) {
                _mm_mask_storeu_ps(out + i * plane, mask, _mm512_castps512_ps128(u[i]));
                _mm_mask_storeu_ps(out + (4 + i) * plane, mask, _mm512_extractf32x4_ps(u[i], 1));
                _mm_mask_storeu_ps(out + (8 + i) * plane, mask, _mm512_extractf32x4_ps(u[i], 2));
                _mm_mask_storeu_ps(out + (12 + i) * plane, mask, _mm512_extractf32x4_ps(u[i], 3));
            }
            continue;
        }
        // One two-source permute puts lane L of u[i] and of u[4 + i] together: channels i and
        // 8 + i (lanes 0 and 2) in one vector, 4 + i and 12 + i (lanes 1 and 3) in the other.
        const __m512i low = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
        const __m512i high = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
        for (int i = 0; i < 4; i++) {
            const __m512 a = _mm512_permutex2var_ps(u[i], low, u[4 + i]), c = _mm512_permutex2var_ps(u[i], high, u[4 + i]);
            if (count == tilePositions) {
                _mm256_storeu_ps(out + i * plane, _mm512_castps512_ps256(a));
                _mm256_storeu_ps(out + (8 + i) * plane, _mm512_extractf32x8_ps(a, 1));
                _mm256_storeu_ps(out + (4 + i) * plane, _mm512_castps512_ps256(c));
                _mm256_storeu_ps(out + (12 + i) * plane, _mm512_extractf32x8_ps(c, 1));
            } else {
                _mm256_mask_storeu_ps(out + i * plane, mask, _mm512_castps512_ps256(a));
                _mm256_mask_storeu_ps(out + (8 + i) * plane, mask, _mm512_extractf32x8_ps(a, 1));
                _mm256_mask_storeu_ps(out + (4 + i) * plane, mask, _mm512_castps512_ps256(c));
                _mm256_mask_storeu_ps(out + (12 + i) * plane, mask, _mm512_extractf32x8_ps(c, 1));
            }
        }
    }
}

/// `multiplyTiles` with blocks of sixteen channels.
__attribute__((target("avx2,fma,avx512f,avx512vl,avx512dq")))
static void multiplyWideTiles(const salient_direct_convolution *s, const float *scratch, const float *packed, float *y,
                              int firstRow, int endRow) {
    const int count = taps(s), Wo = s->outputWidth;
    const size_t plane = (size_t)s->outputHeight * Wo, blockStep = (size_t)count * wideChannels;
    int offsets[maxTaps];
    tileOffsets(s, endRow - firstRow, offsets);
    const int positions = (endRow - firstRow) * Wo;
    for (int first = 0; first < positions; first += tilePositions) {
        const int n = positions - first < tilePositions ? positions - first : tilePositions;
        const float *bases[tilePositions];
        tileBases(s, scratch, first, n, bases);
        float *out = y + (size_t)firstRow * Wo + first;
        int o = 0;
        if (n <= 4) {
            for (; o + maxWideBlocks * wideChannels <= s->outChannels; o += maxWideBlocks * wideChannels)
                multiplyWideTile(maxWideBlocks, 4, bases, offsets, count, packed + (size_t)o * count, blockStep, out + o * plane, plane, n);
            if (o < s->outChannels)
                multiplyWideTile(1, 4, bases, offsets, count, packed + (size_t)o * count, blockStep, out + o * plane, plane, n);
            continue;
        }
        for (; o + maxWideBlocks * wideChannels <= s->outChannels; o += maxWideBlocks * wideChannels)
            multiplyWideTile(maxWideBlocks, 8, bases, offsets, count, packed + (size_t)o * count, blockStep, out + o * plane, plane, n);
        if (o < s->outChannels)
            multiplyWideTile(1, 8, bases, offsets, count, packed + (size_t)o * count, blockStep, out + o * plane, plane, n);
    }
}

void salient_direct_convolution_rows(const salient_direct_convolution *s, const float *x, const float *packed,
                                     float *y, int firstRow, int endRow, float *scratch) {
    if (wideTiles(s)) {
        layOutTiles(s, x, firstRow, endRow - firstRow, scratch);
        multiplyWideTiles(s, scratch, packed, y, firstRow, endRow);
    } else if (eightChannelTiles(s)) {
        layOutTiles(s, x, firstRow, endRow - firstRow, scratch);
        multiplyTiles(s, scratch, packed, y, firstRow, endRow);
    } else {
        layOut(s, x, firstRow, endRow - firstRow, scratch);
        multiplyRows(s, scratch, packed, y, firstRow, endRow);
    }
}

#else

// Only x86 CPUs with AVX2 run the kernel: `salient_direct_convolution_applies` is false elsewhere.
void salient_direct_convolution_rows(const salient_direct_convolution *s, const float *x, const float *packed,
                                     float *y, int firstRow, int endRow, float *scratch) {
    (void)s; (void)x; (void)packed; (void)y; (void)firstRow; (void)endRow; (void)scratch;
    __builtin_trap();
}

#endif
