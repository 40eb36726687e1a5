// VGG16's frozen convolution stack run as one oneDNN inference pipeline, with Winograd
// convolutions where oneDNN has them. libtorch convolves directly only; oneDNN's F(4x4, 3x3)
// Winograd kernels (AVX-512 CPUs) do VGG16's 3 x 3 layers with about half the multiplications:
// on a 2-core Zen 4 the 13 convolutions of a batch of 64 take 78 ms instead of 158 ms. Each
// ReLU is fused into its convolution and the weights are re-laid-out (and Winograd-transformed)
// once, not per batch. Compiled in when CMake finds oneDNN (Debian's libdnnl-dev: the library
// Debian's libtorch itself runs on); without it onednn_backbone_available() is false and the
// backbone keeps libtorch's convolutions.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "cifar_exp/models/kernels/backbone_path.h"

namespace cifar_exp {

// Winograd sums in another order: features differ from direct ones by ~1e-5 relative, so
// cached features record which ran (convolution_path.h).

// Whether this binary was built with oneDNN.
bool onednn_backbone_available();
// Whether oneDNN runs Winograd convolutions on this CPU (x86-64 with AVX-512).
bool onednn_winograd_available();
// The oneDNN this binary runs its backbone on and the instruction set it uses on this CPU
// ("oneDNN 2.7.3, ISA avx2"), or why there is none; for provenance.
std::string onednn_description();

// Why Winograd is not available here (empty when it is), for error messages.
std::string onednn_winograd_unavailable_reason();

class OnednnBackbone : public BackbonePath {
 public:
  // winograd: use Winograd for the layers where it is available and pays (>= 64 input
  // channels, maps of at least 4 x 4; oneDNN's direct kernels win on the first layer and on
  // VGG16's 2 x 2 block 5). false: oneDNN's direct convolutions throughout (tests).
  explicit OnednnBackbone(bool winograd);
  ~OnednnBackbone();
  OnednnBackbone(const OnednnBackbone&) = delete;
  OnednnBackbone& operator=(const OnednnBackbone&) = delete;

  // x: CPU float32 N x C x H x W, any strides. Returns the last pool's output, N x C' x H' x W',
  // contiguous. Primitives are built once per input shape; weights are re-packed only when a
  // layer's tensor changes (its storage or version).
  torch::Tensor forward(const torch::Tensor& x, const std::vector<BackboneLayer>& layers) override;

  std::string name() const override { return "onednn"; }
  // The algorithm each convolution ran with in the last forward: "winograd" or "direct".
  std::vector<std::string> last_algorithms() const override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace cifar_exp
