#include "DepthwiseConvolution.h"
#include "VectorMath.h"

#include <limits.h>
#include <string.h>

// The tap loops are unrolled wherever the kernel size is a constant; the general instance, which
// also has them, cannot be, and says so.
#pragma clang diagnostic ignored "-Wpass-failed"

/// Output rows come in blocks (four, or eight on narrow planes): each laid-out input row is
/// loaded once per tap column and feeds every output row of the block that its taps reach, and
/// the block's eight accumulators are independent chains that keep both FMA units busy. One
/// input row fed one output row at first, and each vector's nine FMAs waited on each other:
/// 7-21 GFLOP/s.
enum { lanes = 8, maxTaps = 7, maxBlockRows = 8, maxBlockInputRows = (maxBlockRows - 1) * 2 + maxTaps };

static int roundUp(int x, int m) { return (x + m - 1) / m * m; }

bool salient_depthwise_applies(const salient_depthwise *s) {
#if defined(__x86_64__)
    return s->kernelHeight >= 1 && s->kernelHeight <= maxTaps && s->kernelWidth >= 1 && s->kernelWidth <= maxTaps
        && (s->strideHeight == 1 || s->strideHeight == 2) && (s->strideWidth == 1 || s->strideWidth == 2)
        && s->outputHeight > 0 && s->outputWidth > 0 && s->inputHeight > 0 && s->inputWidth > 0
        && s->padTop >= 0 && s->padTop < s->kernelHeight && s->padLeft >= 0 && s->padLeft < s->kernelWidth
        && s->inputWidth < (1 << 24) && s->outputWidth < (1 << 24);
#else
    (void)s;
    return false;
#endif
}

/// Floats of one laid-out row: the output row's columns rounded up to pairs of vectors (the
/// forward pass computes two at a time), plus the taps' reach; at stride 2 across, that many for
/// the even columns and again for the odd ones.
static int half(const salient_depthwise *s) {
    return roundUp(roundUp(s->outputWidth, 2 * lanes) + s->kernelWidth, lanes);
}

static int pitch(const salient_depthwise *s) { return s->strideWidth == 2 ? 2 * half(s) : half(s); }

/// Backward at stride 2 gathers: input (ih, iw) at padded (u, v) = (ih + padTop, iw + padLeft)
/// receives w[i][j] gy[(u - i) / sh][(v - j) / sw] from the taps whose offsets the strides
/// divide. The output gradient rows are laid out once with `gradientMargin` zeros on each side;
/// at stride 2 across, a dx row's even and odd padded columns are sums over the even and the odd
/// taps, each a stride-1 correlation along c = v / 2, computed apart and interleaved. Scattering
/// into a padded plane instead took six times the forward pass: read-modify-writes of
/// overlapping vectors wait on each other, and the gather back was scalar.
enum { gradientMargin = maxTaps + lanes };

/// Floats per laid-out gradient row, and per even or odd half of a dx row.
static int gradientPitch(const salient_depthwise *s) {
    return roundUp(2 * gradientMargin + (s->outputWidth > s->inputWidth ? s->outputWidth : s->inputWidth) + 2 * lanes, lanes);
}

/// The stride-1 backward pass's geometry: a forward pass over the output gradient.
static salient_depthwise inputGradientShape(const salient_depthwise *s) {
    const salient_depthwise g = {
        .inputHeight = s->outputHeight, .inputWidth = s->outputWidth, .kernelHeight = s->kernelHeight,
        .kernelWidth = s->kernelWidth, .strideHeight = 1, .strideWidth = 1, .padTop = s->kernelHeight - 1 - s->padTop,
        .padLeft = s->kernelWidth - 1 - s->padLeft, .outputHeight = s->inputHeight, .outputWidth = s->inputWidth,
    };
    return g;
}

/// A ring of kernelHeight laid-out input rows for the forward pass and the filter's gradient;
/// the stride-1 input gradient's ring, or the stride-2 one's laid-out gradient rows.
size_t salient_depthwise_scratch(const salient_depthwise *s) {
    const size_t ring = (size_t)maxBlockInputRows * pitch(s) + maxBlockRows * roundUp(s->outputWidth, 2 * lanes);
    const salient_depthwise g = inputGradientShape(s);
    const size_t flipped = (size_t)maxBlockInputRows * pitch(&g) + maxBlockRows * roundUp(g.outputWidth, 2 * lanes);
    const size_t gathered = (size_t)(s->outputHeight + 4) * gradientPitch(s);
    const size_t most = ring > flipped ? ring : flipped;
    return most > gathered ? most : gathered;
}

#if defined(__x86_64__)
/// even[k] = x[2k], odd[k] = x[2k + 1] for `pairs` blocks of sixteen floats; returns `pairs`.
__attribute__((target("avx2,fma")))
static int splitEvenOdd(const float *x, int pairs, float *even, float *odd) {
    for (int p = 0; p < pairs; p++, x += 2 * lanes, even += lanes, odd += lanes) {
        const __m256 a = _mm256_loadu_ps(x), b = _mm256_loadu_ps(x + lanes);
        // shuffle_ps interleaves the 128-bit halves: [a0 a2 b0 b2 | a4 a6 b4 b6]; the permute sorts them.
        _mm256_storeu_ps(even, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8)));
        _mm256_storeu_ps(odd, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8)));
    }
    return pairs;
}

/// A row's worth of floats: libc's memcpy call cost as much as the copy.
__attribute__((target("avx2,fma")))
static void copyFloats(const float *from, int count, float *to) {
    int c = 0;
    for (; c + lanes <= count; c += lanes) _mm256_storeu_ps(to + c, _mm256_loadu_ps(from + c));
    if (c < count) {
        const __m256i mask = salient_lane_mask(count - c);
        _mm256_maskstore_ps(to + c, mask, _mm256_maskload_ps(from + c, mask));
    }
}

/// The same into a laid-out row, whose last vector may run on: zeros past `count` up to it,
/// without the masked store (slow on AMD: the copy of a 28-float row took 10% of a 28x28 layer).
__attribute__((target("avx2,fma")))
static void copyIntoRow(const float *from, int count, float *to) {
    int c = 0;
    for (; c + lanes <= count; c += lanes) _mm256_storeu_ps(to + c, _mm256_loadu_ps(from + c));
    if (c < count) _mm256_storeu_ps(to + c, _mm256_maskload_ps(from + c, salient_lane_mask(count - c)));
}

/// Zeros over `count` floats rounded up to whole vectors (the rows have room).
__attribute__((target("avx2,fma")))
static void zeroFloats(float *to, int count) {
    for (int c = 0; c < count; c += lanes) _mm256_storeu_ps(to + c, _mm256_setzero_ps());
}
#else
static int splitEvenOdd(const float *x, int pairs, float *even, float *odd) { (void)x; (void)pairs; (void)even; (void)odd; return 0; }
static void copyFloats(const float *from, int count, float *to) { memcpy(to, from, sizeof(float) * count); }
static void copyIntoRow(const float *from, int count, float *to) { memcpy(to, from, sizeof(float) * count); }
static void zeroFloats(float *to, int count) { memset(to, 0, sizeof(float) * count); }
#endif

/// Input row `row` (zeros outside the plane) as the taps read it: padded column c holds input
/// column c - padLeft; at stride 2 across, even padded columns first, then odd ones.
static void layOutRow(const salient_depthwise *s, const float *x, int row, float *out) {
    const int width = pitch(s);
    if (row < 0 || row >= s->inputHeight) {
        zeroFloats(out, width);
        return;
    }
    const float *in = x + (size_t)row * s->inputWidth;
    const int columns = s->strideWidth == 2 ? 2 * half(s) : half(s);
    // Padded columns first..<end are inside the input.
    int first = s->padLeft > 0 ? s->padLeft : 0;
    int end = s->padLeft + s->inputWidth;
    if (end > columns) end = columns;
    if (first > end) first = end;
    if (s->strideWidth == 1) {
        // Zeros where the copy does not write (whole vectors, the copy overwriting their ends).
        zeroFloats(out, first);
        const int tail = end / lanes * lanes;
        zeroFloats(out + tail, width - tail);
        copyIntoRow(in + first - s->padLeft, end - first, out + first);
        return;
    }
    const int h = half(s);
    float *even = out, *odd = out + h;
    zeroFloats(out, width);
    int c = first;
    if (c & 1) { odd[c >> 1] = in[c - s->padLeft]; c++; }
    c = splitEvenOdd(in + c - s->padLeft, (end - c) / (2 * lanes), even + (c >> 1), odd + (c >> 1)) * 2 * lanes + c;
    for (; c < end; c++) {
        if (c & 1) odd[c >> 1] = in[c - s->padLeft]; else even[c >> 1] = in[c - s->padLeft];
    }
}

#if defined(__x86_64__)

/// The laid-out input rows first..<first + count in `rows`, reusing those of the previous
/// window (which started `step` rows earlier) that this one still reads: the buffers of the rows
/// it no longer reads take the new ones.
static void slideWindow(const salient_depthwise *s, const float *x, int first, int count, int step, int fresh,
                        float **rows) {
    if (!fresh && step < count) {
        float *freed[maxBlockInputRows];
        for (int q = 0; q < step; q++) freed[q] = rows[q];
        for (int q = 0; q + step < count; q++) rows[q] = rows[q + step];
        for (int q = 0; q < step; q++) rows[count - step + q] = freed[q];
        for (int q = count - step; q < count; q++) layOutRow(s, x, first + q, rows[q]);
        return;
    }
    for (int q = 0; q < count; q++) layOutRow(s, x, first + q, rows[q]);
}

/// Where tap column j of output vector v reads in a laid-out row.
static inline int tapOffset(const salient_depthwise *s, int v, int j) {
    return s->strideWidth == 1 ? v + j : (j & 1) * half(s) + v + (j >> 1);
}

/// `rows` output rows from the laid-out input rows `in` (the block's first input row first), as
/// plain sums into `out` (rows of `pitch` floats), `vectors` vectors of columns at a time: four
/// rows by two vectors, or eight rows by one on planes at most eight wide (7x7 and 14x14/2
/// layers, where sixteen columns computed seven). `kh`, `kw`, `sh`, `rows` and `vectors` are
/// constants where this is inlined, so every loop but the one over columns unrolls; the finish
/// (bias, activation) is a pass over `out` in L1 afterwards, which keeps this one loop per
/// geometry rather than per geometry and activation.
SALIENT_AVX2 void sumBlock(const salient_depthwise *s, int kh, int kw, int sh, int rows, int vectors,
                           const float *const *in, const __m256 *w, float *out, int pitch) {
    const int inputRows = (rows - 1) * sh + kh;
    for (int v = 0; v < s->outputWidth; v += vectors * lanes) {
        __m256 acc[maxBlockRows][2];
        for (int r = 0; r < rows; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
#pragma clang loop unroll(full)
        for (int q = 0; q < inputRows; q++) {
#pragma clang loop unroll(full)
            for (int j = 0; j < kw; j++) {
                const float *p = in[q] + tapOffset(s, v, j);
                const __m256 x0 = _mm256_loadu_ps(p), x1 = vectors == 2 ? _mm256_loadu_ps(p + lanes) : x0;
#pragma clang loop unroll(full)
                for (int r = 0; r < rows; r++) {
                    const int i = q - r * sh;
                    if (i < 0 || i >= kh) continue;
                    acc[r][0] = _mm256_fmadd_ps(w[i * kw + j], x0, acc[r][0]);
                    if (vectors == 2) acc[r][1] = _mm256_fmadd_ps(w[i * kw + j], x1, acc[r][1]);
                }
            }
        }
        // In row order: a narrow row's last vector runs into the next row, which then overwrites it.
        for (int r = 0; r < rows; r++) {
            _mm256_storeu_ps(out + r * pitch + v, acc[r][0]);
            if (vectors == 2) _mm256_storeu_ps(out + r * pitch + v + lanes, acc[r][1]);
        }
    }
}

SALIENT_AVX2 void forwardPlane(const salient_depthwise *s, int kh, int kw, int sh, int rows, int vectors,
                               const float *x, const float *filter, float bias, const float *residual,
                               const salient_activation *activation, float *pre, float *y, float *scratch) {
    __m256 w[maxTaps * maxTaps];
    for (int t = 0; t < kh * kw; t++) w[t] = _mm256_set1_ps(filter[t]);
    const int capacity = (rows - 1) * sh + kh;
    float *in[maxBlockInputRows];
    for (int q = 0; q < capacity; q++) in[q] = scratch + (size_t)q * pitch(s);
    // Rows that fit one step of vectors are summed side by side, so that one finish call takes
    // the whole block (a call per seven-float row had cost more than the sums on 7x7 planes).
    const int Wo = s->outputWidth, compact = Wo <= vectors * lanes, sums = compact ? Wo : roundUp(Wo, 2 * lanes);
    float *block = scratch + (size_t)maxBlockInputRows * pitch(s);
    for (int oh = 0; oh < s->outputHeight; oh += rows) {
        slideWindow(s, x, oh * sh - s->padTop, capacity, rows * sh, oh == 0, in);
        sumBlock(s, kh, kw, sh, rows, vectors, (const float *const *)in, w, block, sums);
        const int valid = s->outputHeight - oh < rows ? s->outputHeight - oh : rows;
        for (int r = 0; r < (compact ? 1 : valid); r++) {
            const size_t at = (size_t)(oh + r) * Wo;
            salient_activate_keeping_input(activation, block + r * sums, bias, residual ? residual + at : NULL,
                                           pre ? pre + at : NULL, y + at, compact ? (size_t)valid * Wo : (size_t)Wo);
        }
    }
}

/// The common square kernels with their sizes and vertical stride as constants.
SALIENT_AVX2 void forwardAny(const salient_depthwise *s, const float *x, const float *filter, float bias,
                             const float *residual, const salient_activation *activation, float *pre, float *y,
                             float *scratch) {
    const int kh = s->kernelHeight, kw = s->kernelWidth, sh = s->strideHeight;
    const int narrow = s->outputWidth <= lanes;
#define SALIENT_PLANE(kh, kw, sh)                                                                               \
    if (narrow) forwardPlane(s, kh, kw, sh, 8, 1, x, filter, bias, residual, activation, pre, y, scratch);      \
    else forwardPlane(s, kh, kw, sh, 4, 2, x, filter, bias, residual, activation, pre, y, scratch)
    if (kh == 3 && kw == 3) { if (sh == 1) { SALIENT_PLANE(3, 3, 1); } else { SALIENT_PLANE(3, 3, 2); } }
    else if (kh == 5 && kw == 5) { if (sh == 1) { SALIENT_PLANE(5, 5, 1); } else { SALIENT_PLANE(5, 5, 2); } }
    else if (kh == 7 && kw == 7) { if (sh == 1) { SALIENT_PLANE(7, 7, 1); } else { SALIENT_PLANE(7, 7, 2); } }
    else { SALIENT_PLANE(kh, kw, sh); }
#undef SALIENT_PLANE
}

__attribute__((target("avx2,fma")))
void salient_depthwise_forward(const salient_depthwise *s, const float *x, const float *filter, float bias,
                               const float *residual, const salient_activation *activation, float *pre, float *y,
                               float *scratch) {
    const salient_activation identity = {salient_identity, 0, 0};
    forwardAny(s, x, filter, bias, residual, activation ? activation : &identity, pre, y, scratch);
}

/// Backward at stride 1 is a forward pass over the output gradient with the filter turned by
/// 180° (each input gathers from the outputs its taps reached).
SALIENT_AVX2 void backwardInputStrideOne(const salient_depthwise *s, const float *filter, const float *gy,
                                         float *dx, float *scratch) {
    const int kh = s->kernelHeight, kw = s->kernelWidth;
    float turned[maxTaps * maxTaps];
    for (int t = 0; t < kh * kw; t++) turned[t] = filter[kh * kw - 1 - t];
    const salient_depthwise g = inputGradientShape(s);
    const salient_activation identity = {salient_identity, 0, 0};
    forwardAny(&g, gy, turned, 0, NULL, &identity, NULL, dx, scratch);
}

SALIENT_AVX2 void backwardInputGathered(const salient_depthwise *s, const float *filter, const float *gy, float *dx,
                                        float *scratch) {
    const int kh = s->kernelHeight, kw = s->kernelWidth, sh = s->strideHeight, sw = s->strideWidth;
    const int Ho = s->outputHeight, Wo = s->outputWidth, H = s->inputHeight, W = s->inputWidth;
    const int G = gradientPitch(s);
    float *rows = scratch, *even = scratch + (size_t)Ho * G, *odd = even + G, *joined = odd + G;
    for (int r = 0; r < Ho; r++) {
        float *g = rows + (size_t)r * G;
        zeroFloats(g, G);
        copyIntoRow(gy + (size_t)r * Wo, Wo, g + gradientMargin);
    }
    __m256 w[maxTaps * maxTaps];
    for (int t = 0; t < kh * kw; t++) w[t] = _mm256_set1_ps(filter[t]);
    for (int ih = 0; ih < H; ih++) {
        const int u = ih + s->padTop;
        float *d = dx + (size_t)ih * W;
        if (sw == 1) {
            // Column iw reads gradient column iw + padLeft - j, at laid-out offset iw + padLeft - j + margin.
            for (int v = 0; v < W; v += lanes) {
                __m256 acc = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps();
                for (int i = u % sh; i < kh; i += sh) {
                    const int r = (u - i) / sh;
                    if (r < 0 || r >= Ho) continue;
                    const float *g = rows + (size_t)r * G + gradientMargin + s->padLeft + v;
                    for (int j = 0; j < kw; j++) {
                        if (j & 1) acc2 = _mm256_fmadd_ps(w[i * kw + j], _mm256_loadu_ps(g - j), acc2);
                        else acc = _mm256_fmadd_ps(w[i * kw + j], _mm256_loadu_ps(g - j), acc);
                    }
                }
                acc = _mm256_add_ps(acc, acc2);
                if (W - v >= lanes) _mm256_storeu_ps(d + v, acc);
                else _mm256_maskstore_ps(d + v, salient_lane_mask(W - v), acc);
            }
            continue;
        }
        // Padded column v = 2c + parity takes taps j = parity + 2m from gradient column c - m.
        const int halves = (W + s->padLeft) / 2 + 1;
        for (int c = 0; c < halves; c += lanes) {
            __m256 e = _mm256_setzero_ps(), o = _mm256_setzero_ps();
            for (int i = u % sh; i < kh; i += sh) {
                const int r = (u - i) / sh;
                if (r < 0 || r >= Ho) continue;
                const float *g = rows + (size_t)r * G + gradientMargin + c;
                for (int j = 0; j < kw; j += 2) e = _mm256_fmadd_ps(w[i * kw + j], _mm256_loadu_ps(g - j / 2), e);
                for (int j = 1; j < kw; j += 2) o = _mm256_fmadd_ps(w[i * kw + j], _mm256_loadu_ps(g - j / 2), o);
            }
            _mm256_storeu_ps(even + c, e);
            _mm256_storeu_ps(odd + c, o);
        }
        // joined[v] for padded columns v = 0..<2 halves, then dx[iw] = joined[iw + padLeft].
        for (int c = 0; c < halves; c += lanes) {
            const __m256 e = _mm256_loadu_ps(even + c), o = _mm256_loadu_ps(odd + c);
            const __m256 low = _mm256_unpacklo_ps(e, o), high = _mm256_unpackhi_ps(e, o);
            _mm256_storeu_ps(joined + 2 * c, _mm256_permute2f128_ps(low, high, 0x20));
            _mm256_storeu_ps(joined + 2 * c + lanes, _mm256_permute2f128_ps(low, high, 0x31));
        }
        copyFloats(joined + s->padLeft, W, d);
    }
}

/// dW[i][j] += Σ gy[oh][ow] x_padded[oh·sh + i][ow·sw + j], the sums over each output row in
/// vectors, reduced at the end.
SALIENT_AVX2 void backwardFilter(const salient_depthwise *s, const float *x, const float *gy, float *dw,
                                 float *scratch) {
    const int kh = s->kernelHeight, kw = s->kernelWidth, Wo = s->outputWidth;
    __m256 sums[maxTaps * maxTaps];
    for (int t = 0; t < kh * kw; t++) sums[t] = _mm256_setzero_ps();
    float *in[maxBlockInputRows];
    for (int q = 0; q < kh; q++) in[q] = scratch + (size_t)q * pitch(s);
    for (int oh = 0; oh < s->outputHeight; oh++) {
        const float *g = gy + (size_t)oh * Wo;
        slideWindow(s, x, oh * s->strideHeight - s->padTop, kh, s->strideHeight, oh == 0, in);
        for (int i = 0; i < kh; i++) {
            const float *r = in[i];
            for (int v = 0; v < Wo; v += lanes) {
                const __m256 gv = Wo - v >= lanes ? _mm256_loadu_ps(g + v) : _mm256_maskload_ps(g + v, salient_lane_mask(Wo - v));
                for (int j = 0; j < kw; j++)
                    sums[i * kw + j] = _mm256_fmadd_ps(gv, _mm256_loadu_ps(r + tapOffset(s, v, j)), sums[i * kw + j]);
            }
        }
    }
    for (int t = 0; t < kh * kw; t++) {
        float lane[lanes];
        _mm256_storeu_ps(lane, sums[t]);
        float total = 0;
        for (int l = 0; l < lanes; l++) total += lane[l];
        dw[t] += total;
    }
}

__attribute__((target("avx2,fma")))
void salient_depthwise_backward(const salient_depthwise *s, const float *x, const float *filter, const float *gy,
                                float *dx, float *filterGradient, float *scratch) {
    if (dx) {
        if (s->strideHeight == 1 && s->strideWidth == 1) backwardInputStrideOne(s, filter, gy, dx, scratch);
        else backwardInputGathered(s, filter, gy, dx, scratch);
    }
    if (filterGradient) backwardFilter(s, x, gy, filterGradient, scratch);
}

#else

void salient_depthwise_forward(const salient_depthwise *s, const float *x, const float *filter, float bias,
                               const float *residual, const salient_activation *activation, float *pre, float *y,
                               float *scratch) {
    (void)s; (void)x; (void)filter; (void)bias; (void)residual; (void)activation; (void)pre; (void)y; (void)scratch;
    __builtin_trap();
}

void salient_depthwise_backward(const salient_depthwise *s, const float *x, const float *filter, const float *gy,
                                float *dx, float *filterGradient, float *scratch) {
    (void)s; (void)x; (void)filter; (void)gy; (void)dx; (void)filterGradient; (void)scratch;
    __builtin_trap();
}

#endif
