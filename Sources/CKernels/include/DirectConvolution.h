#ifndef SALIENT_DIRECT_CONVOLUTION_H
#define SALIENT_DIRECT_CONVOLUTION_H

#include <stdbool.h>
#include <stddef.h>

/// A convolution over NCHW images with few input channels and taps (a network's first layer, or
/// one group of a grouped layer), no dilation.
typedef struct {
    int inChannels, outChannels;
    int inputHeight, inputWidth;
    int kernelHeight, kernelWidth;
    int strideHeight, strideWidth;
    int padTop, padLeft;
    int outputHeight, outputWidth;
} salient_direct_convolution;

/// Whether this CPU runs the kernel (it needs AVX2 and FMA) and the kernel takes `shape`.
bool salient_direct_convolution_applies(const salient_direct_convolution *shape);

/// Whether the kernel computes `shape` in tiles of output positions by channels, which it does
/// at about im2col + GEMM's speed or better (wide groups, on CPUs with AVX-512VL).
bool salient_direct_convolution_position_tiles(const salient_direct_convolution *shape);

/// Floats of the weights packed by `salient_direct_convolution_pack`.
size_t salient_direct_convolution_packed_count(const salient_direct_convolution *shape);

/// Packs `weight` [out][in][kh][kw] for `salient_direct_convolution_rows`.
void salient_direct_convolution_pack(const salient_direct_convolution *shape, const float *weight, float *packed);

/// Packs the weights of the convolution that computes the input gradient of a stride-1,
/// undilated layer (in and out swapped, taps turned by 180°, padding kernel - 1 - the layer's;
/// `shape` is that convolution's): `weight` is the layer's [shape.in][shape.out][kh][kw].
void salient_direct_convolution_pack_input_gradient(const salient_direct_convolution *shape, const float *weight,
                                                    float *packed);

/// Floats of scratch that computing `rows` output rows at a time needs.
size_t salient_direct_convolution_scratch(const salient_direct_convolution *shape, int rows);

/// Output rows firstRow..<endRow of every output channel of one image, without bias: `x` is the
/// image [in][H][W], `y` the output image [out][Ho][Wo].
void salient_direct_convolution_rows(const salient_direct_convolution *shape, const float *x, const float *packed,
                                     float *y, int firstRow, int endRow, float *scratch);

#endif
