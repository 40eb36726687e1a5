// Our own CPU kernels for the small CNN's convolutions (model.kernels "own", and "auto" where
// they measured faster): 3 x 3 valid convolution + bias + ReLU, then the 2 x 2 max pool where
// the model pools, as one differentiable operation. Forward, filter gradient and input gradient
// run image by image on each thread through register-blocked direct kernels (AVX-512 or AVX2 +
// FMA, picked at run time), so an image's convolution output and its gradient stay in cache
// between the convolution and the ReLU/pool: the pre-pool map is never written to memory.
//
// Results differ from libtorch's at rounding level (another summation order); for a given thread
// count they are deterministic: the filter gradient is summed per thread over a fixed share of the
// batch, then over threads in order.
#pragma once

#include <string>

#include <torch/torch.h>

#include "cifar_exp/config/choices.h"

namespace cifar_exp {

// The instruction set our small-CNN kernels run with here: "avx512", "avx2", or "" when there are
// none (not x86-64, no AVX2 + FMA, or CIFAR_EXP_MAX_CPU_ISA=baseline).
std::string small_conv_isa();

// Whether small_conv3x3_relu runs for these operands: kernels available, CPU float32 4-D
// tensors, 3 x 3 filters, output channels a multiple of the vector width (and input channels too
// when x needs a gradient), maps of at least 3 x 3, no autocast.
bool small_conv_applies(const torch::Tensor& x, const torch::Tensor& weight);

// relu(conv2d(x, weight, bias)), then max_pool2d(., 2) when `pool`, through our kernels (needs
// small_conv_applies). Differentiable in x, weight and bias. Returns a channels-last tensor.
torch::Tensor small_conv3x3_relu(const torch::Tensor& x, const torch::Tensor& weight,
                                 const torch::Tensor& bias, bool pool);

// Whether model.kernels = `kernels` gives the small CNN's convolution `layer` (0, 1, 2) our
// kernels on this CPU: always for "own", where they measured faster than libtorch's
// (BENCHMARKS.md; today every layer where this CPU has them) for "auto", never otherwise.
bool small_conv_chosen(Kernels kernels, int layer);

}  // namespace cifar_exp
