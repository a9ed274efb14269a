#include "PointwiseConvolution.h"
#include "VectorMath.h"

#include <string.h>

// Six output channels by two vectors of eight columns: twelve accumulators, two loads of the
// input and six broadcasts of the weights per input channel, in AVX2's sixteen registers.
// OpenBLAS packs both operands on every call, which for the few input channels of MobileNet's
// expansion layers (16-24 deep, planes of 3136-12544 columns) cost as much as the product: those
// layers ran at 4-17 GFLOP/s through it.
enum { panelRows = 6, lanes = 8 };

/// The panels, and two floats more: `column` loads eight floats where a panel row holds six.
size_t salient_pointwise_packed_count(int outChannels, int inChannels) {
    return (size_t)(outChannels + panelRows - 1) / panelRows * panelRows * inChannels + (lanes - panelRows);
}

int salient_pointwise_channel_block(void) { return panelRows; }

/// Panels of six output channels, input-channel-major within a panel, so that the six weights
/// one input channel broadcasts share a cache line; a last partial panel is padded with zeros.
void salient_pointwise_pack(int outChannels, int inChannels, const float *weight, float *packed) {
    memset(packed, 0, sizeof(float) * salient_pointwise_packed_count(outChannels, inChannels));
    for (int o = 0; o < outChannels; o++)
        for (int i = 0; i < inChannels; i++)
            packed[((size_t)(o / panelRows) * inChannels + i) * panelRows + o % panelRows] = weight[(size_t)o * inChannels + i];
}

#if defined(__x86_64__)

/// Bias, residual, activation and store of one row of a tile: `vectors` vectors from y, the
/// last through `mask` when `masked`.
SALIENT_AVX2 void finishRow(salient_activation_kind kind, float alpha, float beta, int vectors, int masked,
                            __m256i mask, __m256 a0, __m256 a1, float bias, const float *residual, float *pre,
                            float *y) {
    const __m256 b = _mm256_set1_ps(bias);
    a0 = _mm256_add_ps(a0, b);
    a1 = _mm256_add_ps(a1, b);
    if (vectors == 1) {
        if (residual) a0 = _mm256_add_ps(a0, masked ? _mm256_maskload_ps(residual, mask) : _mm256_loadu_ps(residual));
        if (pre) {
            if (masked) _mm256_maskstore_ps(pre, mask, a0); else _mm256_storeu_ps(pre, a0);
        }
        a0 = salient_activate8(kind, alpha, beta, a0);
        if (masked) _mm256_maskstore_ps(y, mask, a0); else _mm256_storeu_ps(y, a0);
        return;
    }
    if (residual) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(residual));
        a1 = _mm256_add_ps(a1, masked ? _mm256_maskload_ps(residual + lanes, mask) : _mm256_loadu_ps(residual + lanes));
    }
    if (pre) {
        _mm256_storeu_ps(pre, a0);
        if (masked) _mm256_maskstore_ps(pre + lanes, mask, a1); else _mm256_storeu_ps(pre + lanes, a1);
    }
    a0 = salient_activate8(kind, alpha, beta, a0);
    a1 = salient_activate8(kind, alpha, beta, a1);
    _mm256_storeu_ps(y, a0);
    if (masked) _mm256_maskstore_ps(y + lanes, mask, a1); else _mm256_storeu_ps(y + lanes, a1);
}

/// One column of a panel's outputs, the output channels in the lanes: per input channel, the
/// panel's six weights in one load times the column's input broadcast (x: the column's `depth`
/// floats one after another), in eight chains. For a block's last one or two columns, which a
/// tile computes with one lane of eight (7x7 planes: the 49th column was an eighth of the work
/// for a fiftieth of the output). The column had read its input a cache line per input channel
/// (straight from the planes or the packed tile) in four chains: on 7x7 planes it took 14% of a
/// 400 -> 400 layer, a third of a tile's time for a sixteenth of its columns; copied into a row
/// of its own first and in eight chains: kernel alone, one thread, 400 -> 400 on 7x7 160 -> 150
/// µs, 2048 -> 512 1023 -> 966, 1152 -> 192 223 -> 210 (48 columns: 137 µs). A thirteenth
/// accumulator in the last tile instead (with AVX-512VL's registers: AVX2's sixteen spilled)
/// gained 2 µs more and cost planes without a tail 6%. Not inlined: inlined into every
/// activation's instance, it slowed the tiles' loop on large planes by 8%.
__attribute__((target("avx2,fma"), noinline)) static void column(salient_activation_kind kind, float alpha, float beta,
                                                                 const float *a, int depth, const float *x, size_t plane,
                                                                 int rows, const float *bias, const float *residual,
                                                                 float *pre, float *y) {
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    int k = 0;
    for (; k + 8 <= depth; k += 8, a += 8 * panelRows, x += 8) {
        c0 = _mm256_fmadd_ps(_mm256_loadu_ps(a), _mm256_broadcast_ss(x), c0);
        c1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + panelRows), _mm256_broadcast_ss(x + 1), c1);
        c2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + 2 * panelRows), _mm256_broadcast_ss(x + 2), c2);
        c3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + 3 * panelRows), _mm256_broadcast_ss(x + 3), c3);
        c4 = _mm256_fmadd_ps(_mm256_loadu_ps(a + 4 * panelRows), _mm256_broadcast_ss(x + 4), c4);
        c5 = _mm256_fmadd_ps(_mm256_loadu_ps(a + 5 * panelRows), _mm256_broadcast_ss(x + 5), c5);
        c6 = _mm256_fmadd_ps(_mm256_loadu_ps(a + 6 * panelRows), _mm256_broadcast_ss(x + 6), c6);
        c7 = _mm256_fmadd_ps(_mm256_loadu_ps(a + 7 * panelRows), _mm256_broadcast_ss(x + 7), c7);
    }
    for (; k < depth; k++, a += panelRows, x++) c0 = _mm256_fmadd_ps(_mm256_loadu_ps(a), _mm256_broadcast_ss(x), c0);
    __m256 v = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    const __m256i mask = salient_lane_mask(rows);
    if (bias) v = _mm256_add_ps(v, _mm256_maskload_ps(bias, mask));
    float lane[lanes];
    if (residual) {
        for (int r = 0; r < rows; r++) lane[r] = residual[r * plane];
        v = _mm256_add_ps(v, _mm256_maskload_ps(lane, mask));
    }
    if (pre) {
        _mm256_storeu_ps(lane, v);
        for (int r = 0; r < rows; r++) pre[r * plane] = lane[r];
    }
    _mm256_storeu_ps(lane, salient_activate8(kind, alpha, beta, v));
    for (int r = 0; r < rows; r++) y[r * plane] = lane[r];
}

/// One tile: `rows` (at most six) output channels of the panel `a` by `vectors` vectors of
/// columns from x, the last vector through `mask` when `masked` (loads past a plane's end could
/// leave the buffer).
SALIENT_AVX2 void tile(salient_activation_kind kind, float alpha, float beta, int vectors, int masked, __m256i mask,
                       const float *a, int depth, const float *x, size_t pitch, int rows, const float *bias,
                       const float *residual, float *pre, float *y, size_t plane, const float *next) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    // Packed tiles are padded: only loads straight from the planes need the mask.
    const int maskedLoads = masked && pitch == plane;
    for (int k = 0; k < depth; k++, a += panelRows, x += pitch) {
        if (next) _mm_prefetch((const char *)(next + k * panelRows), _MM_HINT_T0);
        __m256 x0, x1 = _mm256_setzero_ps();
        if (vectors == 1) {
            x0 = maskedLoads ? _mm256_maskload_ps(x, mask) : _mm256_loadu_ps(x);
        } else {
            x0 = _mm256_loadu_ps(x);
            x1 = maskedLoads ? _mm256_maskload_ps(x + lanes, mask) : _mm256_loadu_ps(x + lanes);
        }
        __m256 w = _mm256_broadcast_ss(a);
        c00 = _mm256_fmadd_ps(w, x0, c00);
        if (vectors == 2) c01 = _mm256_fmadd_ps(w, x1, c01);
        w = _mm256_broadcast_ss(a + 1);
        c10 = _mm256_fmadd_ps(w, x0, c10);
        if (vectors == 2) c11 = _mm256_fmadd_ps(w, x1, c11);
        w = _mm256_broadcast_ss(a + 2);
        c20 = _mm256_fmadd_ps(w, x0, c20);
        if (vectors == 2) c21 = _mm256_fmadd_ps(w, x1, c21);
        w = _mm256_broadcast_ss(a + 3);
        c30 = _mm256_fmadd_ps(w, x0, c30);
        if (vectors == 2) c31 = _mm256_fmadd_ps(w, x1, c31);
        w = _mm256_broadcast_ss(a + 4);
        c40 = _mm256_fmadd_ps(w, x0, c40);
        if (vectors == 2) c41 = _mm256_fmadd_ps(w, x1, c41);
        w = _mm256_broadcast_ss(a + 5);
        c50 = _mm256_fmadd_ps(w, x0, c50);
        if (vectors == 2) c51 = _mm256_fmadd_ps(w, x1, c51);
    }
#define SALIENT_FINISH_ROW(r, first, second)                                                                        \
    if (rows > r)                                                                                                   \
        finishRow(kind, alpha, beta, vectors, masked, mask, first, second, bias ? bias[r] : 0.0f,                   \
                  residual ? residual + r * plane : NULL, pre ? pre + r * plane : NULL, y + r * plane);
    SALIENT_FINISH_ROW(0, c00, c01)
    SALIENT_FINISH_ROW(1, c10, c11)
    SALIENT_FINISH_ROW(2, c20, c21)
    SALIENT_FINISH_ROW(3, c30, c31)
    SALIENT_FINISH_ROW(4, c40, c41)
    SALIENT_FINISH_ROW(5, c50, c51)
#undef SALIENT_FINISH_ROW
}

/// Whether the input is copied into tiles first: every layer over 64 channels deep, and layers of
/// 24 to 64 channels on planes over 1024 positions. A tile read straight from the planes touches
/// a page per input channel once planes are over a page, so deep layers on large planes ran at
/// half speed (256 -> 64 channels on 56x56: 35-50 GFLOP/s), on TLB misses; on planes of 16x16
/// and less, a tile's sixteen columns straddle two cache lines per channel, and a deep layer's
/// tile (400 channels on 7x7: 51 KB) no longer fits in L1 (packed, 25 KB: 92 -> 102 GFLOP/s).
/// Planes between (17x17 to 32x32) were read in place too, and ran at 62-98 GFLOP/s where packed
/// tiles run at 100-110 (kernel alone, one thread: RegNet-Y 128GF's 2904 -> 2904 on 24x24
/// 153 -> 89 ms, 1232 -> 1232 on 24x24 23.7 -> 16.2, 192 -> 192 on 28x28 619 -> 528 µs, 80 -> 80
/// on 32x32 200 -> 154 µs; none slower). Shallow layers on large planes gain while the copy is
/// small beside the product: 32 -> 528 on 192x192 27 -> 13 ms, 32 -> 96 on 112x112 1.07 -> 0.77
/// ms, 24 -> 144 on 56x56 1.08x, 16 -> 96 1.05-1.10x, 16 -> 16 0.92x, 8 -> 48 1.0x. Layers with
/// strides always copy: the copy gathers the columns they read (`gatherTiles`).
static int packsInput(int depth, size_t plane, int strided) {
    return strided || depth > 64 || (depth >= 24 && plane > 1024);
}

int salient_pointwise_packs_input(int inChannels, size_t plane, int strided) {
    return packsInput(inChannels, plane, strided);
}

/// Columns per block: the block's input (depth x columns, about 96 KB) stays in L2 while every
/// panel of weights passes over it. (256 KB blocks, which stream a 7x7 plane's weights once, were
/// no faster once the remainder joined the last block.) Weights past 4 MB (`weights` floats) do
/// not stay in L2 or the L3 share between blocks: each block streams them from memory again, so
/// their blocks take up to 2 MB of input (RegNet's widest 1x1 layers: 2904 -> 7392 channels on
/// 14x14, 86 MB of weights in 13 blocks, 102 -> 84 ms; 3024 -> 3024 on 7x7 10.3 -> 9.9 ms;
/// 448 -> 1232 on 28x28, 2.2 MB, was slower so).
static size_t blockColumns(int depth, size_t weights) {
    const size_t bytes = weights > ((size_t)1 << 20) ? (size_t)2 << 20 : (size_t)96 << 10;
    const size_t columns = bytes / sizeof(float) / (size_t)(depth > 0 ? depth : 1) / (2 * lanes) * (2 * lanes);
    return columns < 2 * lanes ? 2 * lanes : columns;
}

/// A block's last one or two columns, one after another (`column`'s input), then the block's
/// tiles, with the remainder shorter than a tile that joins the last block.
size_t salient_pointwise_scratch(int inChannels, int outChannels) {
    return (size_t)inChannels * (2 + blockColumns(inChannels, (size_t)inChannels * outChannels) + 2 * lanes);
}

/// The columns start..<end of the planes as tiles of sixteen columns, each [depth][16], the last
/// padded with zeros.
SALIENT_AVX2 void packTiles(const float *x, int depth, size_t plane, size_t start, size_t end, float *tiles) {
    for (size_t j = start; j < end; j += 2 * lanes) {
        const size_t left = end - j;
        float *t = tiles + (j - start) * depth;
        if (left >= 2 * lanes) {
            for (int k = 0; k < depth; k++) {
                _mm256_storeu_ps(t + k * 2 * lanes, _mm256_loadu_ps(x + k * plane + j));
                _mm256_storeu_ps(t + k * 2 * lanes + lanes, _mm256_loadu_ps(x + k * plane + j + lanes));
            }
        } else {
            for (int k = 0; k < depth; k++) {
                memset(t + k * 2 * lanes, 0, sizeof(float) * 2 * lanes);
                memcpy(t + k * 2 * lanes, x + k * plane + j, sizeof(float) * left);
            }
        }
    }
}

/// The output columns start..<end of a layer with strides, gathered into tiles laid out as
/// `packTiles` lays them out, a run of columns within one output row and one tile at a time. A
/// 1x1 layer with strides (every ResNet-style downsampling shortcut) had gone through im2col and
/// GEMM, 1.4-1.8x onnxruntime's time at one thread and 2.7-4.4x at two (RegNetX-400MF); the
/// gather costs no more than the copy into tiles it replaces. At stride 2 across, eight columns
/// are the even lanes of a pair of vectors, where the pair stays inside the input row.
SALIENT_AVX2 void gatherTiles(const float *x, int depth, const salient_pointwise_strides *strides, size_t start,
                              size_t end, float *tiles) {
    const size_t width = (size_t)strides->outputWidth, step = (size_t)strides->strideWidth;
    const size_t partial = (end - start) % (2 * lanes);
    if (partial) {
        float *t = tiles + (end - start - partial) * depth;
        for (int k = 0; k < depth; k++) memset(t + k * 2 * lanes + partial, 0, sizeof(float) * (2 * lanes - partial));
    }
    for (size_t j = start; j < end;) {
        const size_t row = j / width, column = j % width, lane = (j - start) % (2 * lanes);
        size_t run = width - column;
        if (run > end - j) run = end - j;
        if (run > 2 * lanes - lane) run = 2 * lanes - lane;
        const float *from = x + row * strides->strideHeight * strides->inputWidth + column * step;
        float *t = tiles + (j - start - lane) * depth + lane;
        if (step == 2) {
            // Each pair of loads reads 16 floats from column 2 * column; only whole pairs inside the row.
            const size_t inside = ((size_t)strides->inputWidth - 2 * column) / (2 * lanes);
            const size_t vectors = run / lanes < inside ? run / lanes : inside;
            for (int k = 0; k < depth; k++, from += strides->inputPlane, t += 2 * lanes) {
                size_t i = 0;
                for (; i < vectors * lanes; i += lanes) {
                    const __m256 even = _mm256_shuffle_ps(_mm256_loadu_ps(from + 2 * i), _mm256_loadu_ps(from + 2 * i + lanes),
                                                          _MM_SHUFFLE(2, 0, 2, 0));
                    _mm256_storeu_ps(t + i, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), _MM_SHUFFLE(3, 1, 2, 0))));
                }
                for (; i < run; i++) t[i] = from[2 * i];
            }
        } else {
            for (int k = 0; k < depth; k++, from += strides->inputPlane, t += 2 * lanes)
                for (size_t i = 0; i < run; i++) t[i] = from[i * step];
        }
        j += run;
    }
}

/// The columns in blocks whose input stays in L2 while every panel of weights passes over it;
/// within a block, each panel (in L1) over every tile of sixteen columns.
SALIENT_AVX2 void convolve(salient_activation_kind kind, float alpha, float beta, const float *packed, int depth,
                           const float *x, size_t plane, float *y, int firstChannel, int endChannel,
                           size_t firstColumn, size_t endColumn, const float *bias, const float *residual,
                           float *pre, float *scratch, const salient_pointwise_strides *strides) {
    const size_t block = blockColumns(depth, (size_t)depth * (endChannel - firstChannel));
    const int packs = packsInput(depth, plane, strides != NULL);
    float *columns = scratch, *tiles = scratch + 2 * depth;
    for (size_t start = firstColumn, end; start < endColumn; start = end) {
        end = start + block < endColumn ? start + block : endColumn;
        // A remainder shorter than a tile joins this block rather than stream every weight again
        // for it (7x7 planes: 49 columns in blocks of 16 read the weights four times).
        if (endColumn - end < 2 * lanes) end = endColumn;
        if (strides) {
            gatherTiles(x, depth, strides, start, end, tiles);
        } else if (packs) {
            packTiles(x, depth, plane, start, end, tiles);
        }
        // A last one or two columns go through `column` after the tiles, their input copied into
        // rows of their own first.
        const size_t tail = (end - start) % (2 * lanes) <= 2 ? (end - start) % (2 * lanes) : 0;
        for (size_t c = 0; c < tail; c++) {
            const size_t j = end - tail + c;
            const float *from = packs ? tiles + (j - start - (j - start) % (2 * lanes)) * depth + (j - start) % (2 * lanes)
                                      : x + j;
            const size_t pitch = packs ? 2 * lanes : plane;
            for (int k = 0; k < depth; k++) columns[c * depth + k] = from[k * pitch];
        }
        for (int o = firstChannel; o < endChannel; o += panelRows) {
            const int rows = endChannel - o < panelRows ? endChannel - o : panelRows;
            const float *a = packed + (size_t)(o / panelRows) * depth * panelRows;
            const size_t row = (size_t)o * plane;
            const float *b = bias ? bias + o : NULL;
            for (size_t j = start; j < end - tail; j += 2 * lanes) {
                const size_t left = end - j;
                const float *r = residual ? residual + row + j : NULL;
                float *p = pre ? pre + row + j : NULL;
                const float *in = packs ? tiles + (j - start) * depth : x + j;
                const size_t pitch = packs ? 2 * lanes : plane;
                // The first tile of a block fetches the next panel's weights ahead: the weights
                // come from L3 or memory once per inference, and a deep panel's stream (a line
                // every few input channels) left the multiplications waiting on them (1152 -> 192
                // channels on 7x7 with cold weights: 80 -> 93 GFLOP/s). Shallow panels are
                // short enough to arrive in time, and lost 3% to the prefetches.
                const float *next = j == start && depth > 64 && o + panelRows < endChannel
                    ? a + (size_t)depth * panelRows : NULL;
                // (Its own instance: a test in the loop of every tile cost 3% on shallow layers.)
                if (left >= 2 * lanes && next) {
                    tile(kind, alpha, beta, 2, 0, _mm256_setzero_si256(), a, depth, in, pitch, rows, b, r, p, y + row + j, plane, next);
                } else if (left >= 2 * lanes) {
                    tile(kind, alpha, beta, 2, 0, _mm256_setzero_si256(), a, depth, in, pitch, rows, b, r, p, y + row + j, plane, NULL);
                } else if (left > lanes) {
                    const __m256i mask = salient_lane_mask(left - lanes);
                    tile(kind, alpha, beta, 2, 1, mask, a, depth, in, pitch, rows, b, r, p, y + row + j, plane, NULL);
                } else if (left == lanes) {
                    tile(kind, alpha, beta, 1, 0, _mm256_setzero_si256(), a, depth, in, pitch, rows, b, r, p, y + row + j, plane, NULL);
                } else {
                    tile(kind, alpha, beta, 1, 1, salient_lane_mask(left), a, depth, in, pitch, rows, b, r, p, y + row + j, plane, NULL);
                }
            }
            for (size_t c = 0; c < tail; c++) {
                const size_t j = end - tail + c;
                column(kind, alpha, beta, a, depth, columns + c * depth, plane, rows, b,
                       residual ? residual + row + j : NULL, pre ? pre + row + j : NULL, y + row + j);
            }
        }
    }
}

__attribute__((target("avx2,fma")))
void salient_pointwise_convolution(const float *packed, int depth, int outChannels, const float *x, size_t plane,
                                   float *y, int firstChannel, int endChannel, size_t firstColumn, size_t endColumn,
                                   const float *bias, const float *residual, const salient_activation *activation,
                                   float *pre, float *scratch, const salient_pointwise_strides *strides) {
    (void)outChannels;
#define SALIENT_CONVOLVE(kind, alpha, beta)                                                                   \
    convolve(kind, alpha, beta, packed, depth, x, plane, y, firstChannel, endChannel, firstColumn, endColumn, \
             bias, residual, pre, scratch, strides);                                                          \
    break;
    const float alpha = activation ? activation->alpha : 0, beta = activation ? activation->beta : 0;
    switch (activation ? activation->kind : salient_identity) {
    case salient_identity: SALIENT_CONVOLVE(salient_identity, 0, 0)
    case salient_relu: SALIENT_CONVOLVE(salient_relu, 0, 0)
    case salient_clip: SALIENT_CONVOLVE(salient_clip, alpha, beta)
    case salient_leaky_relu: SALIENT_CONVOLVE(salient_leaky_relu, alpha, 0)
    case salient_sigmoid: SALIENT_CONVOLVE(salient_sigmoid, 0, 0)
    case salient_hard_sigmoid: SALIENT_CONVOLVE(salient_hard_sigmoid, alpha, beta)
    case salient_hard_swish: SALIENT_CONVOLVE(salient_hard_swish, 0, 0)
    case salient_tanh: SALIENT_CONVOLVE(salient_tanh, 0, 0)
    case salient_silu: SALIENT_CONVOLVE(salient_silu, 0, 0)
    case salient_gelu: SALIENT_CONVOLVE(salient_gelu, 0, 0)
    }
#undef SALIENT_CONVOLVE
}

#else

int salient_pointwise_packs_input(int inChannels, size_t plane, int strided) {
    (void)inChannels;
    (void)plane;
    (void)strided;
    return 0;
}

void salient_pointwise_convolution(const float *packed, int depth, int outChannels, const float *x, size_t plane,
                                   float *y, int firstChannel, int endChannel, size_t firstColumn, size_t endColumn,
                                   const float *bias, const float *residual, const salient_activation *activation,
                                   float *pre, float *scratch, const salient_pointwise_strides *strides) {
    (void)outChannels;
    (void)scratch;
    const size_t pitch = strides ? strides->inputPlane : plane;
    for (int o = firstChannel; o < endChannel; o++) {
        const float *a = packed + (size_t)(o / panelRows) * depth * panelRows + o % panelRows;
        for (size_t j = firstColumn; j < endColumn; j++) {
            const size_t source = strides ? j / strides->outputWidth * strides->strideHeight * strides->inputWidth
                                                + j % strides->outputWidth * strides->strideWidth
                                          : j;
            float sum = 0;
            for (int k = 0; k < depth; k++) sum += a[k * panelRows] * x[k * pitch + source];
            y[o * plane + j] = sum;
        }
        salient_activation identity = {salient_identity, 0, 0};
        salient_activate_keeping_input(activation ? activation : &identity, y + o * plane + firstColumn,
                                       bias ? bias[o] : 0, residual ? residual + o * plane + firstColumn : NULL,
                                       pre ? pre + o * plane + firstColumn : NULL, y + o * plane + firstColumn,
                                       endColumn - firstColumn);
    }
}

#endif
