#include "Activation.h"
#include "VectorMath.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)

/// Whether `count` floats from a and from b share none.
static inline int disjoint(const float *a, const float *b, size_t count) { return a + count <= b || b + count <= a; }

/// The activation pass for one constant `kind`: whole vectors, then the last partial vector
/// through masked loads and stores, so every float goes through the same arithmetic. `pre`,
/// when given, receives f's argument.
SALIENT_AVX2 void activate(salient_activation_kind kind, float alpha, float beta, const float *x, float bias,
                           const float *addend, float *pre, float *y, size_t count) {
    const __m256 b = _mm256_set1_ps(bias);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 v = _mm256_add_ps(_mm256_loadu_ps(x + i), b);
        if (addend) v = _mm256_add_ps(v, _mm256_loadu_ps(addend + i));
        if (pre) _mm256_storeu_ps(pre + i, v);
        _mm256_storeu_ps(y + i, salient_activate8(kind, alpha, beta, v));
    }
    if (i == count) return;
    // The last partial vector: when nothing written is also read, the last eight floats again,
    // recomputed to the same values, since masked stores are slow on AMD (a tenth of a 28x28
    // depthwise layer, finished a row at a time); otherwise through masks.
    if (count >= 8 && disjoint(x, y, count) && (!addend || disjoint(addend, y, count))
        && (!pre || (disjoint(x, pre, count) && (!addend || disjoint(addend, pre, count))))) {
        i = count - 8;
        __m256 v = _mm256_add_ps(_mm256_loadu_ps(x + i), b);
        if (addend) v = _mm256_add_ps(v, _mm256_loadu_ps(addend + i));
        if (pre) _mm256_storeu_ps(pre + i, v);
        _mm256_storeu_ps(y + i, salient_activate8(kind, alpha, beta, v));
        return;
    }
    const __m256i mask = salient_lane_mask(count - i);
    __m256 v = _mm256_add_ps(_mm256_maskload_ps(x + i, mask), b);
    if (addend) v = _mm256_add_ps(v, _mm256_maskload_ps(addend + i, mask));
    if (pre) _mm256_maskstore_ps(pre + i, mask, v);
    _mm256_maskstore_ps(y + i, mask, salient_activate8(kind, alpha, beta, v));
}

/// SiLU and sigmoid sixteen lanes at a time on CPUs with AVX-512: the operations of
/// `salient_activate8`, in its order, so the same floats (checked bit for bit against the
/// eight-lane loop over sweeps and random inputs), in 30% fewer cycles: their eight-lane loop is
/// bound by instructions, not by the vector units (a pass over floats in L1 on Zen 4: SiLU 12.6
/// cycles per eight floats with AVX2, 8.9 with AVX-512, which Zen 4 runs on the same 256-bit
/// units; onnxruntime's QuickGelu runs there at 8.5). Masked loads and stores take the tail:
/// with AVX-512 they are not the microcoded `vmaskmovps`.
#define SALIENT_AVX512 __attribute__((target("avx512f"), always_inline)) static inline

/// `salient_exp8_beside_one` on sixteen lanes.
SALIENT_AVX512 __m512 exp16BesideOne(__m512 x) {
    x = _mm512_min_ps(_mm512_set1_ps(89.0f), x);
    x = _mm512_max_ps(_mm512_set1_ps(-88.0f), x);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    const __m512i scale = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(y, _mm512_castsi512_ps(scale));
}

/// The activation pass for SiLU or sigmoid (`kind`, a constant where inlined) on sixteen lanes.
SALIENT_AVX512 void activateSixteen(salient_activation_kind kind, const float *x, float bias, const float *addend,
                                    float *pre, float *y, size_t count) {
    const __m512 b = _mm512_set1_ps(bias), one = _mm512_set1_ps(1.0f);
    for (size_t i = 0; i < count; i += 16) {
        const __mmask16 m = count - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (count - i)) - 1);
        __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i), b);
        if (addend) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, addend + i));
        if (pre) _mm512_mask_storeu_ps(pre + i, m, v);
        const __m512 e = exp16BesideOne(_mm512_sub_ps(_mm512_setzero_ps(), v));
        const __m512 f = kind == salient_silu ? _mm512_div_ps(v, _mm512_add_ps(one, e)) : _mm512_div_ps(one, _mm512_add_ps(one, e));
        _mm512_mask_storeu_ps(y + i, m, f);
    }
}

__attribute__((target("avx512f"))) static void activateSiLUSixteen(const float *x, float bias, const float *addend,
                                                                   float *pre, float *y, size_t count) {
    activateSixteen(salient_silu, x, bias, addend, pre, y, count);
}

__attribute__((target("avx512f"))) static void activateSigmoidSixteen(const float *x, float bias, const float *addend,
                                                                      float *pre, float *y, size_t count) {
    activateSixteen(salient_sigmoid, x, bias, addend, pre, y, count);
}

/// Whether the sixteen-lane loops run: the CPU and the operating system (which must save the
/// 512-bit registers) both support AVX-512F.
static int hasAVX512(void) { return __builtin_cpu_supports("avx512f"); }

/// One specialised loop per kind; SiLU and sigmoid sixteen lanes at a time where they can.
#define SALIENT_ACTIVATE_CASES(pre)                                                                            \
    if (a->kind == salient_silu && hasAVX512()) { activateSiLUSixteen(x, bias, addend, pre, y, count); return; } \
    if (a->kind == salient_sigmoid && hasAVX512()) { activateSigmoidSixteen(x, bias, addend, pre, y, count); return; } \
    switch (a->kind) {                                                                                         \
    case salient_identity: activate(salient_identity, 0, 0, x, bias, addend, pre, y, count); break;            \
    case salient_relu: activate(salient_relu, 0, 0, x, bias, addend, pre, y, count); break;                    \
    case salient_clip: activate(salient_clip, a->alpha, a->beta, x, bias, addend, pre, y, count); break;      \
    case salient_leaky_relu: activate(salient_leaky_relu, a->alpha, 0, x, bias, addend, pre, y, count); break;\
    case salient_sigmoid: activate(salient_sigmoid, 0, 0, x, bias, addend, pre, y, count); break;              \
    case salient_hard_sigmoid:                                                                                 \
        activate(salient_hard_sigmoid, a->alpha, a->beta, x, bias, addend, pre, y, count);                    \
        break;                                                                                                 \
    case salient_hard_swish: activate(salient_hard_swish, 0, 0, x, bias, addend, pre, y, count); break;        \
    case salient_tanh: activate(salient_tanh, 0, 0, x, bias, addend, pre, y, count); break;                    \
    case salient_silu: activate(salient_silu, 0, 0, x, bias, addend, pre, y, count); break;                    \
    case salient_gelu: activate(salient_gelu, 0, 0, x, bias, addend, pre, y, count); break;                    \
    }

__attribute__((target("avx2,fma")))
void salient_activate(const salient_activation *a, const float *x, float bias, const float *addend, float *y,
                      size_t count) {
    SALIENT_ACTIVATE_CASES(NULL)
}

__attribute__((target("avx2,fma")))
void salient_activate_keeping_input(const salient_activation *a, const float *x, float bias, const float *addend,
                                    float *pre, float *y, size_t count) {
    SALIENT_ACTIVATE_CASES(pre)
}

/// 1 - s for s = sigmoid(x), as e^-x s where s is near 1: the difference would keep only the
/// bits of s that 1 - s shares (SiLU's derivative at 6 was 1.2e-6 off).
SALIENT_AVX2 __m256 oneMinusSigmoid8(__m256 x, __m256 s) {
    const __m256 tail = _mm256_mul_ps(salient_exp8(_mm256_sub_ps(_mm256_setzero_ps(), x)), s);
    return _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), s), tail, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ));
}

/// f'(x) for one constant `kind`.
SALIENT_AVX2 __m256 derivative8(salient_activation_kind kind, float alpha, float beta, __m256 x) {
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    switch (kind) {
    case salient_identity: return one;
    case salient_relu: return _mm256_and_ps(_mm256_cmp_ps(x, zero, _CMP_GT_OQ), one);
    case salient_clip:
        return _mm256_and_ps(_mm256_and_ps(_mm256_cmp_ps(x, _mm256_set1_ps(alpha), _CMP_GT_OQ),
                                           _mm256_cmp_ps(x, _mm256_set1_ps(beta), _CMP_LT_OQ)), one);
    case salient_leaky_relu:
        return _mm256_blendv_ps(_mm256_set1_ps(alpha), one, _mm256_cmp_ps(x, zero, _CMP_GE_OQ));
    case salient_sigmoid: {
        const __m256 s = salient_sigmoid8(x);
        return _mm256_mul_ps(s, oneMinusSigmoid8(x, s));
    }
    case salient_hard_sigmoid: {
        const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(alpha), _mm256_set1_ps(beta));
        const __m256 inside = _mm256_and_ps(_mm256_cmp_ps(z, zero, _CMP_GT_OQ), _mm256_cmp_ps(z, one, _CMP_LT_OQ));
        return _mm256_and_ps(inside, _mm256_set1_ps(alpha));
    }
    case salient_hard_swish: {
        // 0 below -3, 1 above 3, x / 3 + 1/2 between.
        const __m256 middle = _mm256_fmadd_ps(x, _mm256_set1_ps(1.0f / 3), _mm256_set1_ps(0.5f));
        const __m256 upper = _mm256_blendv_ps(middle, one, _mm256_cmp_ps(x, _mm256_set1_ps(3.0f), _CMP_GT_OQ));
        return _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_set1_ps(-3.0f), _CMP_LT_OQ), upper);
    }
    case salient_tanh: {
        const __m256 t = salient_tanh8(x);
        return _mm256_fnmadd_ps(t, t, one);
    }
    case salient_silu: {
        // s (1 + x (1 - s)).
        const __m256 s = salient_sigmoid8(x);
        return _mm256_mul_ps(s, _mm256_fmadd_ps(x, oneMinusSigmoid8(x, s), one));
    }
    case salient_gelu: {
        // Phi(x) + x phi(x), phi(x) = e^(-x^2 / 2) / sqrt(2 pi).
        const __m256 density = _mm256_mul_ps(salient_exp8(_mm256_mul_ps(_mm256_set1_ps(-0.5f), _mm256_mul_ps(x, x))),
                                             _mm256_set1_ps(0.39894228040143268f));
        return _mm256_fmadd_ps(x, density, salient_normal_cdf8(x));
    }
    }
    return one;
}

/// f'(x) from y = f(x), for one constant `kind` whose derivative follows from its output.
SALIENT_AVX2 __m256 derivativeFromOutput8(salient_activation_kind kind, float alpha, float beta, __m256 y) {
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    switch (kind) {
    case salient_sigmoid: return _mm256_mul_ps(y, _mm256_sub_ps(one, y));
    case salient_hard_sigmoid:
        return _mm256_and_ps(_mm256_and_ps(_mm256_cmp_ps(y, zero, _CMP_GT_OQ), _mm256_cmp_ps(y, one, _CMP_LT_OQ)),
                             _mm256_set1_ps(alpha));
    case salient_tanh: return _mm256_fnmadd_ps(y, y, one);
    default: return derivative8(kind, alpha, beta, y);
    }
}

SALIENT_AVX2 void backward(salient_activation_kind kind, float alpha, float beta, int fromOutput, const float *v,
                           const float *g, float *dx, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m256 x = _mm256_loadu_ps(v + i);
        const __m256 d = fromOutput ? derivativeFromOutput8(kind, alpha, beta, x) : derivative8(kind, alpha, beta, x);
        _mm256_storeu_ps(dx + i, _mm256_mul_ps(_mm256_loadu_ps(g + i), d));
    }
    if (i < count) {
        const __m256i mask = salient_lane_mask(count - i);
        const __m256 x = _mm256_maskload_ps(v + i, mask);
        const __m256 d = fromOutput ? derivativeFromOutput8(kind, alpha, beta, x) : derivative8(kind, alpha, beta, x);
        _mm256_maskstore_ps(dx + i, mask, _mm256_mul_ps(_mm256_maskload_ps(g + i, mask), d));
    }
}

/// One specialised loop per kind and direction.
#define SALIENT_BACKWARD_CASES(fromOutput)                                                                     \
    switch (a->kind) {                                                                                         \
    case salient_identity: backward(salient_identity, 0, 0, fromOutput, v, g, dx, count); break;               \
    case salient_relu: backward(salient_relu, 0, 0, fromOutput, v, g, dx, count); break;                       \
    case salient_clip: backward(salient_clip, a->alpha, a->beta, fromOutput, v, g, dx, count); break;         \
    case salient_leaky_relu: backward(salient_leaky_relu, a->alpha, 0, fromOutput, v, g, dx, count); break;   \
    case salient_sigmoid: backward(salient_sigmoid, 0, 0, fromOutput, v, g, dx, count); break;                 \
    case salient_hard_sigmoid: backward(salient_hard_sigmoid, a->alpha, a->beta, fromOutput, v, g, dx, count); \
        break;                                                                                                 \
    case salient_hard_swish: backward(salient_hard_swish, 0, 0, fromOutput, v, g, dx, count); break;           \
    case salient_tanh: backward(salient_tanh, 0, 0, fromOutput, v, g, dx, count); break;                       \
    case salient_silu: backward(salient_silu, 0, 0, fromOutput, v, g, dx, count); break;                       \
    case salient_gelu: backward(salient_gelu, 0, 0, fromOutput, v, g, dx, count); break;                       \
    }

__attribute__((target("avx2,fma")))
void salient_activation_backward(const salient_activation *a, const float *v, const float *g, float *dx,
                                 size_t count) {
    SALIENT_BACKWARD_CASES(0)
}

__attribute__((target("avx2,fma")))
void salient_activation_backward_from_output(const salient_activation *a, const float *v, const float *g, float *dx,
                                             size_t count) {
    SALIENT_BACKWARD_CASES(1)
}

#else

// Scalar forms for CPUs other than x86-64 (the build targets AVX2 there).
static float activate1(const salient_activation *a, float x) {
    switch (a->kind) {
    case salient_identity: return x;
    case salient_relu: return x > 0 ? x : 0;
    case salient_clip: return fminf(fmaxf(x, a->alpha), a->beta);
    case salient_leaky_relu: return x < 0 ? a->alpha * x : x;
    case salient_sigmoid: return 1 / (1 + expf(-x));
    case salient_hard_sigmoid: return fminf(fmaxf(a->alpha * x + a->beta, 0), 1);
    case salient_hard_swish: return x * fminf(fmaxf(x / 6 + 0.5f, 0), 1);
    case salient_tanh: return tanhf(x);
    case salient_silu: return x / (1 + expf(-x));
    case salient_gelu: return 0.5f * x * erfcf(-x * 0.70710678f);
    }
    return x;
}

static float derivative1(const salient_activation *a, float x) {
    switch (a->kind) {
    case salient_identity: return 1;
    case salient_relu: return x > 0;
    case salient_clip: return x > a->alpha && x < a->beta;
    case salient_leaky_relu: return x >= 0 ? 1 : a->alpha;
    case salient_sigmoid: { const float s = 1 / (1 + expf(-x)); return s * (1 - s); }
    case salient_hard_sigmoid: { const float z = a->alpha * x + a->beta; return z > 0 && z < 1 ? a->alpha : 0; }
    case salient_hard_swish: return x < -3 ? 0 : x > 3 ? 1 : x / 3 + 0.5f;
    case salient_tanh: { const float t = tanhf(x); return 1 - t * t; }
    case salient_silu: { const float s = 1 / (1 + expf(-x)); return s * (1 + x * (1 - s)); }
    case salient_gelu: return 0.5f * erfcf(-x * 0.70710678f) + x * 0.39894228f * expf(-0.5f * x * x);
    }
    return 1;
}

void salient_activate_keeping_input(const salient_activation *a, const float *x, float bias, const float *addend,
                                    float *pre, float *y, size_t count) {
    for (size_t i = 0; i < count; i++) {
        const float v = x[i] + (addend ? addend[i] : 0) + bias;
        if (pre) pre[i] = v;
        y[i] = activate1(a, v);
    }
}

void salient_activate(const salient_activation *a, const float *x, float bias, const float *addend, float *y,
                      size_t count) {
    salient_activate_keeping_input(a, x, bias, addend, NULL, y, count);
}

void salient_activation_backward(const salient_activation *a, const float *x, const float *g, float *dx,
                                 size_t count) {
    for (size_t i = 0; i < count; i++) dx[i] = g[i] * derivative1(a, x[i]);
}

void salient_activation_backward_from_output(const salient_activation *a, const float *y, const float *g, float *dx,
                                             size_t count) {
    for (size_t i = 0; i < count; i++) {
        float d;
        switch (a->kind) {
        case salient_sigmoid: d = y[i] * (1 - y[i]); break;
        case salient_hard_sigmoid: d = y[i] > 0 && y[i] < 1 ? a->alpha : 0; break;
        case salient_tanh: d = 1 - y[i] * y[i]; break;
        default: d = derivative1(a, y[i]); break;
        }
        dx[i] = g[i] * d;
    }
}

#endif
