#ifndef SALIENT_POINTWISE_CONVOLUTION_H
#define SALIENT_POINTWISE_CONVOLUTION_H

#include <stddef.h>

#include "Activation.h"

/// A 1x1 convolution over NCHW planes as a product of the weights [out][in], packed once, with
/// the planes [in][plane]: no im2col, no packing of the activations, and the bias, residual and
/// activation applied to each block of outputs while it is in registers.

/// Floats of the weights [out][in] packed by `salient_pointwise_pack`.
size_t salient_pointwise_packed_count(int outChannels, int inChannels);

/// Packs `weight` [out][in] (row i of output channel o at weight[o * in + i]).
void salient_pointwise_pack(int outChannels, int inChannels, const float *weight, float *packed);

/// The output channels a kernel call computes at once: calls that split the output channels
/// between threads split it at multiples of this.
int salient_pointwise_channel_block(void);

/// Where a 1x1 layer with strides (and no padding) reads its input: output column j, at row
/// j / outputWidth and column j % outputWidth of its plane, reads input row (j / outputWidth) *
/// strideHeight, column (j % outputWidth) * strideWidth, of planes `inputPlane` floats apart and
/// `inputWidth` wide.
typedef struct {
    size_t inputPlane;
    int inputWidth, outputWidth, strideHeight, strideWidth;
} salient_pointwise_strides;

/// Whether a call copies its columns of the input into tiles in its scratch before it multiplies
/// (deep layers on small or large planes, and every layer with strides, whose copy gathers the
/// columns it reads): every call repeats that copy for its own columns, so calls that split a
/// plane's output channels between them each copy the whole input.
int salient_pointwise_packs_input(int inChannels, size_t plane, int strided);

/// Floats of scratch a call with `inChannels` input channels and at most `outChannels` output
/// channels needs.
size_t salient_pointwise_scratch(int inChannels, int outChannels);

/// y[o][j] = f(Σ_i w[o][i] x[i][j] + bias[o] + residual[o][j]) for output channels
/// firstChannel..<endChannel and columns firstColumn..<endColumn of one image, x being the image's
/// `inChannels` planes and y, residual and pre its `outChannels` planes, all `plane` floats
/// apart; with `strides`, x's planes are laid out as it says and `plane` is the output's. `bias`,
/// `residual`, `pre` and `strides` may be NULL; `pre` receives f's argument. `scratch` is the
/// calling thread's own.
void salient_pointwise_convolution(const float *packed, int inChannels, int outChannels, const float *x,
                                   size_t plane, float *y, int firstChannel, int endChannel, size_t firstColumn,
                                   size_t endColumn, const float *bias, const float *residual,
                                   const salient_activation *activation, float *pre, float *scratch,
                                   const salient_pointwise_strides *strides);

#endif
