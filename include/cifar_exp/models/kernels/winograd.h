// Our own Winograd F(4x4, 3x3) convolutions for the frozen VGG16 on x86-64 CPUs, in two
// instruction sets: AVX2 + FMA ("winograd_avx2") and AVX-512 ("winograd_avx512"). A 4 x 4 output
// tile costs 36 multiplications per input and output channel instead of 144, so VGG16's 3 x 3
// layers do a quarter of the direct multiplications. Per layer: the filters are transformed once
// per weight version (in double precision, then rounded); then, for a block of tiles at a time on
// each thread, the input tiles are transformed (B^T d B), the 36 matrix products run through a
// packed kernel of our own, and the output transform (A^T M A) adds the bias and applies ReLU
// and, at a block's end, the 2 x 2 max pool before anything is written. A block's transformed
// tiles stay in cache between the three steps. Maps of at most 2 x 2 (block 5 at 32 x 32 inputs)
// are one matrix product through the same kernel instead: each output pixel sees every input
// pixel.
//
// Features differ from direct ones at rounding level (~1e-6 relative); a feature cache keys them
// apart (",conv=winograd_avx2"). The two instruction sets do the same operations in the same
// order, so their features are equal (tests/models/kernels/winograd_test.cpp checks).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "cifar_exp/models/kernels/backbone_path.h"
#include "cifar_exp/models/kernels/cpu_isa.h"

namespace cifar_exp {

// "winograd_avx2" or "winograd_avx512" (isa kAvx2 or kAvx512): the path's name in
// model.convolution, bench --layers and error messages.
std::string our_winograd_name(CpuIsa isa);
// Whether our Winograd kernels for `isa` (kAvx2 or kAvx512) can run here: an x86-64 build, a CPU
// with that instruction set, and CIFAR_EXP_MAX_CPU_ISA not below it. Throws ConfigError for
// another value of that variable.
bool our_winograd_available(CpuIsa isa);
// Why not (empty when available), for error messages and the run log.
std::string our_winograd_unavailable_reason(CpuIsa isa);

// One layer: 3 x 3 convolution, stride 1, padding 1, bias, ReLU, then a 2 x 2 max pool when
// `pool`, through our Winograd kernels for `isa` (a ConfigError where not available). x: CPU
// float32 N x C x H x W, any strides; returns a channels-last tensor. Transforms the filters on
// every call; WinogradBackbone keeps them.
torch::Tensor winograd_conv3x3_relu(const torch::Tensor& x, const torch::Tensor& weight,
                                    const torch::Tensor& bias, bool pool, CpuIsa isa);

class WinogradBackbone : public BackbonePath {
 public:
  // Our kernels for `isa` (kAvx2 or kAvx512; a ConfigError where not available). every_layer:
  // our Winograd on every layer it can run (maps of any size, any channels), not only where
  // winograd_pays (bench --layers, tests).
  explicit WinogradBackbone(CpuIsa isa, bool every_layer = false);
  ~WinogradBackbone();
  WinogradBackbone(const WinogradBackbone&) = delete;
  WinogradBackbone& operator=(const WinogradBackbone&) = delete;

  // Whether layer `in` x h x w takes our Winograd kernels (else libtorch's direct convolution).
  static bool winograd_pays(int64_t in_channels, int64_t height, int64_t width);

  // x: CPU float32 N x C x H x W, any strides. Returns the last pool's output, contiguous.
  // Filters are transformed again only when a layer's tensors change (storage or version).
  torch::Tensor forward(const torch::Tensor& x, const std::vector<BackboneLayer>& layers) override;

  // our_winograd_name(isa).
  std::string name() const override;

  // The algorithm each convolution ran with in the last forward: name(), "matrix_avx2" or
  // "matrix_avx512" (a map of at most 2 x 2 as one matrix product) or "direct".
  std::vector<std::string> last_algorithms() const override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace cifar_exp
