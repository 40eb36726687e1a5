// Our own Winograd F(4x4, 3x3) convolutions for the frozen VGG16 on CPUs with AVX2 (and no
// oneDNN Winograd kernels: those need AVX-512). A 4 x 4 output tile costs 36 multiplications per
// input and output channel instead of 144, so VGG16's 3 x 3 layers do a quarter of the direct
// multiplications. Per layer: the filters are transformed once per weight version (in double
// precision, then rounded); then, for a block of tiles at a time on each thread, the input tiles
// are transformed (B^T d B), the 36 matrix products run through a packed AVX2 kernel of our own,
// and the output transform (A^T M A) adds the bias and applies ReLU and, at a block's end, the
// 2 x 2 max pool before anything is written. A block's transformed tiles stay in cache between
// the three steps. Maps of at most 2 x 2 (block 5 at 32 x 32 inputs) are one matrix product
// through the same kernel instead: each output pixel sees every input pixel.
//
// Features differ from direct ones at rounding level (~1e-6 relative); a feature cache keys them
// apart (",conv=winograd_avx2").
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "cifar_exp/models/kernels/backbone_path.h"
#include "cifar_exp/models/kernels/cpu_isa.h"

namespace cifar_exp {

// Whether our AVX2 Winograd kernels can run here: an x86-64 build, a CPU with AVX2 and FMA, and
// CIFAR_EXP_MAX_CPU_ISA not "baseline". Throws ConfigError for another value of that variable.
bool winograd_avx2_available();
// Why not (empty when available), for error messages and the run log.
std::string winograd_avx2_unavailable_reason();

// One layer: 3 x 3 convolution, stride 1, padding 1, bias, ReLU, then a 2 x 2 max pool when
// `pool`, through our Winograd kernels (needs winograd_avx2_available()). x: CPU float32
// N x C x H x W, any strides; returns a channels-last tensor. Transforms the filters on every
// call; WinogradBackbone keeps them.
torch::Tensor winograd_conv3x3_relu(const torch::Tensor& x, const torch::Tensor& weight,
                                    const torch::Tensor& bias, bool pool);

class WinogradBackbone : public BackbonePath {
 public:
  // every_layer: our Winograd on every layer it can run (maps of any size, any channels), not
  // only where winograd_pays (bench --layers, tests).
  explicit WinogradBackbone(bool every_layer = false);
  ~WinogradBackbone();
  WinogradBackbone(const WinogradBackbone&) = delete;
  WinogradBackbone& operator=(const WinogradBackbone&) = delete;

  // Whether layer `in` x h x w takes our Winograd kernels (else libtorch's direct convolution).
  static bool winograd_pays(int64_t in_channels, int64_t height, int64_t width);

  // x: CPU float32 N x C x H x W, any strides. Returns the last pool's output, contiguous.
  // Filters are transformed again only when a layer's tensors change (storage or version).
  torch::Tensor forward(const torch::Tensor& x, const std::vector<BackboneLayer>& layers) override;

  std::string name() const override { return "winograd_avx2"; }

  // The algorithm each convolution ran with in the last forward: "winograd_avx2", "matrix_avx2"
  // (a map of at most 2 x 2 as one matrix product) or "direct".
  std::vector<std::string> last_algorithms() const override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace cifar_exp
