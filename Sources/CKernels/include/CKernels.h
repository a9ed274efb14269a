#ifndef SALIENT_CKERNELS_H
#define SALIENT_CKERNELS_H

// The umbrella header: every header Swift sees. A header added to include/ but not here would
// be missed by builds whose module cache predates it.
#include "Activation.h"
#include "DepthwiseConvolution.h"
#include "DirectConvolution.h"
#include "PointwiseConvolution.h"

#endif
