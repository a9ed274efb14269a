#ifndef SALIENT_VECTOR_MATH_H
#define SALIENT_VECTOR_MATH_H

// Eight-lane AVX2 forms of the activations, shared by the activation pass and the kernels that
// fuse an activation into their output (convolutions). Private to CKernels.

#include "Activation.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define SALIENT_AVX2 __attribute__((target("avx2,fma"), always_inline)) static inline

/// The first `count` (< 8) lanes, for masked loads and stores.
SALIENT_AVX2 __m256i salient_lane_mask(size_t count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/// e^r for x = n ln 2 + r with |r| <= ln 2 / 2 (Cephes' method: ln 2 split in two so that r is
/// exact, e^r by a degree-6 polynomial); `n` receives n. The callers clamp x and apply 2^n.
SALIENT_AVX2 __m256 salient_exp8_reduced(__m256 x, __m256 *n) {
    *n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(*n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(*n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    return _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
}

/// exp(x), with 2^n applied in two halves so that results down to the subnormals and up to the
/// largest float come out right (about 1 ulp; +inf past 88.72, 0 below -103.9, NaN stays NaN:
/// `min`/`max` return their second operand on NaN).
SALIENT_AVX2 __m256 salient_exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_set1_ps(88.8f), x);
    x = _mm256_max_ps(_mm256_set1_ps(-104.0f), x);
    __m256 n;
    const __m256 y = salient_exp8_reduced(x, &n);
    const __m256i k = _mm256_cvtps_epi32(n);
    const __m256i half = _mm256_srai_epi32(k, 1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 first = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, bias), 23));
    const __m256 second = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(k, half), bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(y, first), second);
}

/// exp(x) as `salient_exp8` for the functions that only add it to 1 (sigmoid, SiLU): x clamped
/// to [-88, 89] and 2^n applied at once, so results below the smallest normal float come out 0
/// (where 1 + e^x is 1 anyway) and n = 128 from x = 88.4 up gives +inf, as e^x does from 88.72
/// (so that sigmoid(-89) and SiLU(-100) are 0, not 1 / e^88). Five operations fewer than the
/// two-step scaling: SiLU's finish cost as much as the product in the pointwise kernel's shallow
/// layers (16 -> 96 channels on 112x112: 85 GFLOP/s with ReLU, 31 with SiLU, 37 with this).
SALIENT_AVX2 __m256 salient_exp8_beside_one(__m256 x) {
    x = _mm256_min_ps(_mm256_set1_ps(89.0f), x);
    x = _mm256_max_ps(_mm256_set1_ps(-88.0f), x);
    __m256 n;
    const __m256 y = salient_exp8_reduced(x, &n);
    // n in [-127, 128]: biased exponent 0 reads as zero, 255 as infinity.
    const __m256i scale = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(scale));
}

/// 1 / (1 + e^-x): within 3 ulp (exp's error, one rounding in the sum and one in the division).
SALIENT_AVX2 __m256 salient_sigmoid8(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, salient_exp8_beside_one(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

/// tanh by Cephes' method: an odd polynomial below |x| = 0.625, where 1 - 2 / (e^2|x| + 1)
/// would cancel, and that formula with the sign put back above it.
SALIENT_AVX2 __m256 salient_tanh8(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 a = _mm256_andnot_ps(sign, x);
    const __m256 z = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
    const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 e = salient_exp8(_mm256_add_ps(a, a));
    const __m256 large = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
    const __m256 signed_large = _mm256_or_ps(large, _mm256_and_ps(sign, x));
    return _mm256_blendv_ps(signed_large, small, _mm256_cmp_ps(a, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
}

/// clamp(alpha x + beta, 0, 1).
SALIENT_AVX2 __m256 salient_hard_sigmoid8(__m256 x, float alpha, float beta) {
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(alpha), _mm256_set1_ps(beta));
    return _mm256_min_ps(_mm256_set1_ps(1.0f), _mm256_max_ps(_mm256_setzero_ps(), z));
}

/// Phi(x) = (1 + erf(x / sqrt 2)) / 2 for GELU, with erf as N. Juffa's faithfully rounded erff
/// (the form onnxruntime's MLAS uses): t + t p(t^2) below t = |z| = 0.921875, 1 - e^-r(t) with
/// r(t) = t + t q(t) above. Above the split 1 - erf(t) is e^-r itself, so for x < 0, where
/// 1 + erf(z) would cancel to a few bits (to 0 below x = -5.5 in floats), Phi comes out with
/// e^-r's relative accuracy instead; no clamp, so that Phi(-inf) is 0 and NaN stays NaN.
SALIENT_AVX2 __m256 salient_normal_cdf8(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    const __m256 t = _mm256_mul_ps(_mm256_andnot_ps(sign, x), _mm256_set1_ps(0.70710678118654752f));
    const __m256 s = _mm256_mul_ps(t, t);
    __m256 p = _mm256_set1_ps(-5.99104969e-4f);
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(4.99339588e-3f));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(-2.67667342e-2f));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(1.12818025e-1f));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(-3.76124859e-1f));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(1.28379151e-1f));
    const __m256 small = _mm256_fmadd_ps(p, t, t);
    __m256 q = _mm256_set1_ps(1.72948930e-5f);
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-3.83208680e-4f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(3.88393435e-3f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-2.42545605e-2f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.06777847e-1f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(6.34846687e-1f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.28717512e-1f));
    const __m256 tail = salient_exp8(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_fmadd_ps(q, t, t)));
    // 1 + erf(|z|) and 1 - erf(|z|) (erfc), each from the branch its |z| takes.
    const __m256 big = _mm256_cmp_ps(t, _mm256_set1_ps(0.921875f), _CMP_GT_OQ);
    const __m256 upper = _mm256_blendv_ps(_mm256_add_ps(one, small), _mm256_sub_ps(_mm256_set1_ps(2.0f), tail), big);
    const __m256 lower = _mm256_blendv_ps(_mm256_sub_ps(one, small), tail, big);
    const __m256 negative = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    return _mm256_mul_ps(_mm256_set1_ps(0.5f), _mm256_blendv_ps(upper, lower, negative));
}

/// f(x) for one of the activations; `kind` is a constant wherever this is inlined, so the
/// switch folds away.
SALIENT_AVX2 __m256 salient_activate8(salient_activation_kind kind, float alpha, float beta, __m256 x) {
    switch (kind) {
    case salient_identity: return x;
    case salient_relu: return _mm256_max_ps(x, _mm256_setzero_ps());
    case salient_clip: return _mm256_min_ps(_mm256_set1_ps(beta), _mm256_max_ps(_mm256_set1_ps(alpha), x));
    case salient_leaky_relu:
        return _mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(alpha)),
                                _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
    case salient_sigmoid: return salient_sigmoid8(x);
    case salient_hard_sigmoid: return salient_hard_sigmoid8(x, alpha, beta);
    case salient_hard_swish: return _mm256_mul_ps(x, salient_hard_sigmoid8(x, 1.0f / 6, 0.5f));
    case salient_tanh: return salient_tanh8(x);
    case salient_silu: {
        const __m256 one = _mm256_set1_ps(1.0f);
        return _mm256_div_ps(x, _mm256_add_ps(one, salient_exp8_beside_one(_mm256_sub_ps(_mm256_setzero_ps(), x))));
    }
    case salient_gelu: return _mm256_mul_ps(x, salient_normal_cdf8(x));
    }
    return x;
}

#endif
#endif
