#ifndef SALIENT_DEPTHWISE_CONVOLUTION_H
#define SALIENT_DEPTHWISE_CONVOLUTION_H

#include <stdbool.h>
#include <stddef.h>

#include "Activation.h"

/// The geometry of a depthwise convolution's planes: one filter of kernelHeight x kernelWidth
/// taps slides over one input plane at strides 1 or 2, undilated, with zero padding.
typedef struct {
    int inputHeight, inputWidth;
    int kernelHeight, kernelWidth;
    int strideHeight, strideWidth;
    int padTop, padLeft;
    int outputHeight, outputWidth;
} salient_depthwise;

/// Whether the kernels take `shape`: taps up to 7x7, strides 1 or 2, and planes whose rows fit
/// the kernels' int arithmetic.
bool salient_depthwise_applies(const salient_depthwise *shape);

/// Floats of scratch one call needs.
size_t salient_depthwise_scratch(const salient_depthwise *shape);

/// One output plane: y = f(x ⋆ filter + bias + residual), `pre` receiving f's argument when
/// given; `residual` and `pre` are planes laid out as y and may be NULL. Input rows are laid
/// out zero-padded (and, at stride 2 across, split into even and odd columns) a few at a time
/// in `scratch`, so the taps read contiguous floats from L1.
void salient_depthwise_forward(const salient_depthwise *shape, const float *x, const float *filter, float bias,
                               const float *residual, const salient_activation *activation, float *pre, float *y,
                               float *scratch);

/// Floats of scratch one call of `salient_depthwise_forward_channel_block` needs.
size_t salient_depthwise_channel_block_scratch(const salient_depthwise *shape);

/// Up to eight channels' output planes at once (`channels` of them, each filter applied to its
/// own input plane: a multiplier of one), with the channels in the vector lanes: x, residual,
/// pre and y point at the first channel's plane, the others following one plane apart; filter
/// at its taps, the others following; `bias` (NULL or `channels` floats). Only output rows
/// firstRow..<endRow are written (and only the input rows they read are read), so that threads
/// can share a plane by bands of rows. The finish is `salient_depthwise_forward`'s.
void salient_depthwise_forward_channel_block(const salient_depthwise *shape, int channels, const float *x,
                                             const float *filter, const float *bias, const float *residual,
                                             const salient_activation *activation, float *pre, float *y,
                                             float *scratch, int firstRow, int endRow);

/// The gradient of one input plane, dx = Σ over the output plane gradient gy of each tap's
/// contribution (written, not accumulated), and, when `filterGradient` is not NULL, the filter's
/// gradient added to it.
void salient_depthwise_backward(const salient_depthwise *shape, const float *x, const float *filter,
                                const float *gy, float *dx, float *filterGradient, float *scratch);

#endif
