// Fused CPU kernels for the layer pairs the models repeat, each with the generic libtorch path
// it replaces kept beside it (model.kernels = "generic" selects that path everywhere).
#pragma once

#include <string>

#include <torch/torch.h>

#include "cifar_exp/config/choices.h"

namespace cifar_exp {

// Kernels (choices.h) says which implementation the models use for the pairs below: kFused
// (default) or kGeneric.

// max_pool2d(relu(x), 2): ReLU then a 2x2, stride-2 max pool, as the small CNN and each VGG16
// block end apply them. Because ReLU is monotonic this equals relu(max_pool2d(x, 2)) exactly,
// values and gradients (a window whose maximum is <= 0 passes no gradient either way). The
// fused kernel does it in one pass over x, keeps a one-byte winner per output value instead of
// libtorch's int64 indices and the ReLU output, and writes the input gradient in one pass
// instead of zero-filling it, scattering, and masking it with ReLU's backward. It runs on CPU
// float32 tensors of 4 dimensions in channels-last layout; anything else (CUDA, bf16, NCHW)
// takes the generic path, so results never depend on which applies.
torch::Tensor max_pool2_relu(const torch::Tensor& x, Kernels kernels = Kernels::kFused);

// Whether the fused kernel would run for x (tests and bench say which path they measured).
bool fused_max_pool2_relu_applies(const torch::Tensor& x);

// Inverted dropout, as torch::dropout: in training each value is kept with probability 1 - p and
// scaled by 1 / (1 - p), else zeroed; outside training (or p = 0) x itself. libtorch's CPU
// bernoulli_ draws each value's number from the generator under its lock (about 12 ns a value:
// a fifth of the frozen VGG16's dense-head step); ours draws one 64-bit seed per call from
// torch's default CPU generator and expands it as a SplitMix64 stream, whose i-th output is a
// function of the seed and i alone. So the mask comes from the run's seed, resumes from a
// checkpoint's generator state, does not depend on the thread count, and fills in parallel.
// Ours runs on CPU float32 tensors unless kernels is kGeneric; elsewhere (CUDA, bf16) it is
// torch::dropout. The masks differ from libtorch's (another stream), their law does not.
torch::Tensor dropout(const torch::Tensor& x, double p, bool training, Kernels kernels);

// Whether our dropout would draw x's mask (tests and bench say which path they measured).
bool own_dropout_applies(const torch::Tensor& x, Kernels kernels);

}  // namespace cifar_exp
