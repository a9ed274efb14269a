#ifndef SALIENT_ACTIVATION_H
#define SALIENT_ACTIVATION_H

#include <stddef.h>

/// A pointwise nonlinearity as the kernels apply it. `alpha` and `beta` are clip's bounds,
/// leaky ReLU's slope (alpha) and hard sigmoid's slope and offset.
typedef enum {
    salient_identity,
    salient_relu,
    salient_clip,
    salient_leaky_relu,
    salient_sigmoid,
    salient_hard_sigmoid,
    salient_hard_swish,
    salient_tanh,
    salient_silu,
    /// x Phi(x), Phi the standard normal distribution function (GELU, not its tanh approximation).
    salient_gelu,
} salient_activation_kind;

typedef struct {
    salient_activation_kind kind;
    float alpha, beta;
} salient_activation;

/// y[i] = f(x[i] + addend[i] + bias) for `count` floats; `addend` may be NULL, and x, addend
/// and y may alias. Eight lanes at a time with AVX2 and FMA (SiLU and sigmoid sixteen, to the
/// same floats, where the CPU has AVX-512), the transcendental functions by polynomials accurate
/// to a few ulp.
void salient_activate(const salient_activation *activation, const float *x, float bias, const float *addend, float *y,
                      size_t count);

/// The same, also writing f's argument x[i] + addend[i] + bias to pre[i] (for a backward pass
/// that needs it: hard swish and SiLU cannot recover it from their output).
void salient_activate_keeping_input(const salient_activation *activation, const float *x, float bias,
                                    const float *addend, float *pre, float *y, size_t count);

/// dx[i] = gradient[i] * f'(x[i]), from the activation's input.
void salient_activation_backward(const salient_activation *activation, const float *x, const float *gradient,
                                 float *dx, size_t count);

/// dx[i] = gradient[i] * f'(x) computed from the output y[i] = f(x), for the activations whose
/// derivative follows from their output (all but hard swish, SiLU and GELU).
void salient_activation_backward_from_output(const salient_activation *activation, const float *y,
                                             const float *gradient, float *dx, size_t count);

#endif
