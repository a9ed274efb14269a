#include "DepthwiseConvolution.h"
#include "VectorMath.h"

#include <stdint.h>

// The tap loops are unrolled wherever the kernel size is a constant; the general instance, which
// also has them, cannot be, and says so.
#pragma clang diagnostic ignored "-Wpass-failed"

// Eight channels at a time with the channels in the lanes, as onnxruntime's MLAS runs depthwise
// layers on its NCHWc layout: a tap is one weight vector (that tap of eight filters) times one
// input vector (that position of eight planes), so a stride of 2 or a plane 7 wide wastes no
// lane and needs no shuffle. The kernel of DepthwiseConvolution.c, a plane at a time, lays out
// each input row padded (and split into even and odd columns at stride 2) per plane: on the
// 7x7 and 14x14 planes of MobileNet-like networks and at stride 2 it ran 2.5-6x slower than
// MLAS, the layout and calls costing more than the taps.
//
// Input rows are transposed into a ring of kernelHeight rows [column][channel], each laid out
// once; eight output columns are summed in eight accumulators, transposed back to the planes
// and finished (bias, residual, activation) on the way out.
enum { lanes = 8, maxTaps = 7 };

static int roundUp(int x, int m) { return (x + m - 1) / m * m; }

/// Whether `aCount` floats from a and `bCount` from b share none.
static int disjoint(const float *a, size_t aCount, const float *b, size_t bCount) {
    const uintptr_t p = (uintptr_t)a, q = (uintptr_t)b;
    return p + aCount * sizeof(float) <= q || q + bCount * sizeof(float) <= p;
}

/// Laid-out columns of one ring row: what the last group of eight output columns reads.
static int ringWidth(const salient_depthwise *s) {
    return (roundUp(s->outputWidth, lanes) - 1) * s->strideWidth + s->kernelWidth;
}

size_t salient_depthwise_channel_block_scratch(const salient_depthwise *s) {
    return (size_t)s->kernelHeight * ringWidth(s) * lanes + (size_t)s->kernelHeight * s->kernelWidth * lanes;
}

#if defined(__x86_64__)

/// Rows become columns: r[i] lane j = m[j] lane i.
SALIENT_AVX2 void transpose8(__m256 m[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(m[0], m[1]), t1 = _mm256_unpackhi_ps(m[0], m[1]);
    const __m256 t2 = _mm256_unpacklo_ps(m[2], m[3]), t3 = _mm256_unpackhi_ps(m[2], m[3]);
    const __m256 t4 = _mm256_unpacklo_ps(m[4], m[5]), t5 = _mm256_unpackhi_ps(m[4], m[5]);
    const __m256 t6 = _mm256_unpacklo_ps(m[6], m[7]), t7 = _mm256_unpackhi_ps(m[6], m[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    m[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    m[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    m[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    m[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    m[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    m[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    m[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    m[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/// Input row `row` of `channels` planes (zeros outside the plane and in the missing channels)
/// as ring row `out`: laid-out column p holds input column p - padLeft of the eight channels.
SALIENT_AVX2 void layOutRow(const salient_depthwise *s, int channels, const float *x, size_t inputPlane, int row,
                            float *out) {
    const int width = ringWidth(s);
    if (row < 0 || row >= s->inputHeight) {
        for (int p = 0; p < width; p++) _mm256_storeu_ps(out + p * lanes, _mm256_setzero_ps());
        return;
    }
    const int left = s->padLeft < width ? s->padLeft : width;
    for (int p = 0; p < left; p++) _mm256_storeu_ps(out + p * lanes, _mm256_setzero_ps());
    // Input columns 0..<columns land inside the ring row; the ones past it no tap reads.
    const int columns = s->inputWidth < width - left ? s->inputWidth : width - left;
    const float *in = x + (size_t)row * s->inputWidth;
    for (int c = 0; c < columns; c += lanes) {
        const int count = columns - c < lanes ? columns - c : lanes;
        const __m256i mask = salient_lane_mask(count);
        __m256 m[8];
#pragma clang loop unroll(full)
        for (int k = 0; k < lanes; k++) {
            if (k >= channels) m[k] = _mm256_setzero_ps();
            else if (count == lanes) m[k] = _mm256_loadu_ps(in + k * inputPlane + c);
            else m[k] = _mm256_maskload_ps(in + k * inputPlane + c, mask);
        }
        transpose8(m);
        // Unrolled with a test per vector: as a loop to `count`, the stores became a call of
        // libc's memmove (15% of a stride-2 layer's time).
#pragma clang loop unroll(full)
        for (int k = 0; k < lanes; k++)
            if (k < count) _mm256_storeu_ps(out + (left + c + k) * lanes, m[k]);
    }
    for (int p = left + columns; p < width; p++) _mm256_storeu_ps(out + p * lanes, _mm256_setzero_ps());
}

/// f on eight vectors, the switch on `kind` taken once: in a switch per vector, each vector's
/// exp and division (SiLU, sigmoid) waited on the last one's instead of overlapping with it.
SALIENT_AVX2 void activateEight(const salient_activation *activation, __m256 v[8]) {
    const float alpha = activation->alpha, beta = activation->beta;
#define SALIENT_EIGHT(kind)                                                      \
    _Pragma("clang loop unroll(full)")                                            \
    for (int k = 0; k < lanes; k++) v[k] = salient_activate8(kind, alpha, beta, v[k]); \
    break;
    switch (activation->kind) {
    case salient_identity: break;
    case salient_relu: SALIENT_EIGHT(salient_relu)
    case salient_clip: SALIENT_EIGHT(salient_clip)
    case salient_leaky_relu: SALIENT_EIGHT(salient_leaky_relu)
    case salient_sigmoid: SALIENT_EIGHT(salient_sigmoid)
    case salient_hard_sigmoid: SALIENT_EIGHT(salient_hard_sigmoid)
    case salient_hard_swish: SALIENT_EIGHT(salient_hard_swish)
    case salient_tanh: SALIENT_EIGHT(salient_tanh)
    case salient_silu: SALIENT_EIGHT(salient_silu)
    case salient_gelu: SALIENT_EIGHT(salient_gelu)
    }
#undef SALIENT_EIGHT
}

/// Sums of `count` (at most eight) output columns from `first` of one output row, each a vector
/// of the eight channels, transposed to one vector of columns per channel and finished into
/// the planes: bias, residual, f's argument into `pre`, f. With `runsOn`, a partial group's
/// stores are whole vectors anyway, running on into the plane's next row, which that row's
/// finish overwrites: AMD's masked stores are microcoded, and on 7- and 14-wide planes, where every
/// row ends in one, they took a tenth of the kernel's time. `channels` is a constant (eight)
/// where the blocks are whole, so that the loops unroll and the sums stay in registers.
SALIENT_AVX2 void finishColumns(int channels, const salient_activation *activation, __m256 sums[8], const float *bias,
                                const float *residual, float *pre, float *y, size_t plane, int count, int runsOn) {
    transpose8(sums);
    const __m256i mask = salient_lane_mask(count);
    const int whole = count == lanes, wholeStores = whole || runsOn;
#pragma clang loop unroll(full)
    for (int k = 0; k < channels; k++) {
        if (bias) sums[k] = _mm256_add_ps(sums[k], _mm256_set1_ps(bias[k]));
        const size_t at = k * plane;
        if (residual)
            sums[k] = _mm256_add_ps(sums[k], whole ? _mm256_loadu_ps(residual + at) : _mm256_maskload_ps(residual + at, mask));
        if (pre) {
            if (wholeStores) _mm256_storeu_ps(pre + at, sums[k]); else _mm256_maskstore_ps(pre + at, mask, sums[k]);
        }
    }
    activateEight(activation, sums);
#pragma clang loop unroll(full)
    for (int k = 0; k < channels; k++) {
        const size_t at = k * plane;
        if (wholeStores) _mm256_storeu_ps(y + at, sums[k]); else _mm256_maskstore_ps(y + at, mask, sums[k]);
    }
}

/// One output row: groups of eight columns, each tap a weight vector times eight input
/// vectors. `kh`, `kw` and `sw` are constants where this is inlined, so the tap loops unroll.
/// `room` is the floats from the row's start to its planes' ends when stores may run on
/// (`finishColumns`), and 0 otherwise.
SALIENT_AVX2 void sumRow(const salient_depthwise *s, int kh, int kw, int sw, int channels,
                         const salient_activation *activation, const float *const *in, const float *weights,
                         const float *bias, const float *residual, float *pre, float *y, size_t plane, size_t room) {
    const int Wo = s->outputWidth;
    for (int first = 0; first < Wo; first += lanes) {
        __m256 acc[8];
        for (int k = 0; k < lanes; k++) acc[k] = _mm256_setzero_ps();
#pragma clang loop unroll(full)
        for (int i = 0; i < kh; i++) {
            const float *r = in[i] + (size_t)first * sw * lanes;
#pragma clang loop unroll(full)
            for (int j = 0; j < kw; j++) {
                const __m256 w = _mm256_loadu_ps(weights + (i * kw + j) * lanes);
#pragma clang loop unroll(full)
                for (int k = 0; k < lanes; k++) acc[k] = _mm256_fmadd_ps(w, _mm256_loadu_ps(r + (k * sw + j) * lanes), acc[k]);
            }
        }
        const int count = Wo - first < lanes ? Wo - first : lanes;
        const int runsOn = (size_t)first + lanes <= room;
        const float *r = residual ? residual + first : NULL;
        float *p = pre ? pre + first : NULL;
        finishColumns(channels, activation, acc, bias, r, p, y + first, plane, count, runsOn);
    }
}

/// Floats of output (eight planes' rows) finished before an exponential activation's pass over
/// them: 16 KB, so that the pass reads them from L1.
enum { deferredFloats = 4096 };

SALIENT_AVX2 void forwardBlock(const salient_depthwise *s, int kh, int kw, int sh, int sw, int channels,
                               const float *x, const float *filter, const float *bias, const float *residual,
                               const salient_activation *activation, const salient_activation *deferred,
                               float *pre, float *y, float *scratch, int firstRow, int endRow, int runsOn) {
    const int width = ringWidth(s), Ho = s->outputHeight, Wo = s->outputWidth;
    const size_t inputPlane = (size_t)s->inputHeight * s->inputWidth, plane = (size_t)Ho * Wo;
    float *ring = scratch, *weights = scratch + (size_t)kh * width * lanes;
    // Tap t of the eight filters in one vector, zeros for missing channels.
    for (int t = 0; t < kh * kw; t++)
        for (int k = 0; k < lanes; k++) weights[t * lanes + k] = k < channels ? filter[(size_t)k * kh * kw + t] : 0.0f;
    // Input row r sits in ring row (r + padTop) mod kh: the kh rows one output row reads are
    // distinct, and the next row's new ones replace only rows it no longer reads. A band from
    // `firstRow` lays out the rows its first output row reads, halo rows shared with the band
    // above included.
    int next = -s->padTop;
    // With `deferred`, the rows are finished without it (bias, residual) and every few rows
    // it runs over them, each channel's rows in one pass; `pre` is then written by that pass.
    const int chunkRows = deferredFloats / (lanes * Wo) > 1 ? deferredFloats / (lanes * Wo) : 1;
    int chunk = firstRow;
    for (int oh = firstRow; oh < endRow; oh++) {
        const int top = oh * sh - s->padTop;
        if (next < top) next = top;
        for (; next < top + kh; next++)
            layOutRow(s, channels, x, inputPlane, next, ring + (size_t)((next + s->padTop) % kh) * width * lanes);
        const float *in[maxTaps];
        for (int i = 0; i < kh; i++) in[i] = ring + (size_t)((top + i + s->padTop) % kh) * width * lanes;
        const size_t at = (size_t)oh * Wo;
        sumRow(s, kh, kw, sw, channels, activation, in, weights, bias, residual ? residual + at : NULL,
               pre && !deferred ? pre + at : NULL, y + at, plane, runsOn ? (size_t)endRow * Wo - at : 0);
        if (deferred && (oh + 1 - chunk == chunkRows || oh + 1 == endRow)) {
            // Rows chunk...oh are final but for f; a run-on store of row oh went into row oh + 1,
            // which this pass does not reach and that row's finish overwrites.
            const size_t from = (size_t)chunk * Wo, count = (size_t)(oh + 1 - chunk) * Wo;
            for (int k = 0; k < channels; k++)
                salient_activate_keeping_input(deferred, y + k * plane + from, 0, NULL,
                                               pre ? pre + k * plane + from : NULL, y + k * plane + from, count);
            chunk = oh + 1;
        }
    }
}

__attribute__((target("avx2,fma")))
void salient_depthwise_forward_channel_block(const salient_depthwise *s, int channels, const float *x,
                                             const float *filter, const float *bias, const float *residual,
                                             const salient_activation *activation, float *pre, float *y,
                                             float *scratch, int firstRow, int endRow) {
    const salient_activation identity = {salient_identity, 0, 0};
    const salient_activation *f = activation ? activation : &identity;
    // The activations that take an exponential run as a pass over a few finished rows, not in
    // the finish of every eight columns, where they cost twice the pass (EfficientNet-B7's
    // layers alone, one thread, SiLU over the identity: 5x5 on 2304 x 19x19 +0.62 ms in the
    // finish, +0.38 as the pass; 3x3 on 3840 x 19x19 +1.00, +0.65). The finish cost the
    // same with its exponentials one vector at a time (no spills) or a reciprocal estimate in
    // place of the division.
    const salient_activation_kind kind = f->kind;
    const int exponential = kind == salient_sigmoid || kind == salient_tanh || kind == salient_silu || kind == salient_gelu;
    const salient_activation *deferred = exponential ? f : NULL;
    if (exponential) f = &identity;
    const int kh = s->kernelHeight, kw = s->kernelWidth, sh = s->strideHeight, sw = s->strideWidth;
    // Stores may run on into a plane's next row only where nothing this call reads (input,
    // residual) shares memory with what it writes, so that the floats they run on into are never
    // read before the next row's finish overwrites them; never past the band's last row, which
    // another thread may be writing.
    const size_t inputs = (size_t)channels * s->inputHeight * s->inputWidth;
    const size_t outputs = (size_t)channels * s->outputHeight * s->outputWidth;
    const int runsOn = disjoint(y, outputs, x, inputs) && (!residual || disjoint(y, outputs, residual, outputs))
        && (!pre || (disjoint(pre, outputs, x, inputs) && disjoint(pre, outputs, y, outputs)
                     && (!residual || disjoint(pre, outputs, residual, outputs))));
    // A whole block's eight channels are a constant, so that its loops over the channels unroll
    // and the vectors of eight planes stay in registers (they went through the stack: about a
    // quarter of the kernel's samples under perf in EfficientNet-B0).
#define SALIENT_BLOCK(kh, kw, sw)                                                                       \
    if (channels == lanes) forwardBlock(s, kh, kw, sh, sw, lanes, x, filter, bias, residual, f, deferred, pre, y, scratch, firstRow, endRow, runsOn); \
    else forwardBlock(s, kh, kw, sh, sw, channels, x, filter, bias, residual, f, deferred, pre, y, scratch, firstRow, endRow, runsOn)
    if (kh == 3 && kw == 3) { if (sw == 1) { SALIENT_BLOCK(3, 3, 1); } else { SALIENT_BLOCK(3, 3, 2); } }
    else if (kh == 5 && kw == 5) { if (sw == 1) { SALIENT_BLOCK(5, 5, 1); } else { SALIENT_BLOCK(5, 5, 2); } }
    else if (kh == 7 && kw == 7) { if (sw == 1) { SALIENT_BLOCK(7, 7, 1); } else { SALIENT_BLOCK(7, 7, 2); } }
    else { SALIENT_BLOCK(kh, kw, sw); }
#undef SALIENT_BLOCK
}

#else

// Only x86 CPUs with AVX2 run the kernels: `salient_depthwise_applies` is false elsewhere.
void salient_depthwise_forward_channel_block(const salient_depthwise *s, int channels, const float *x,
                                             const float *filter, const float *bias, const float *residual,
                                             const salient_activation *activation, float *pre, float *y,
                                             float *scratch, int firstRow, int endRow) {
    (void)s; (void)firstRow; (void)endRow; (void)channels; (void)x; (void)filter; (void)bias; (void)residual; (void)activation; (void)pre; (void)y;
    (void)scratch;
    __builtin_trap();
}

#endif
