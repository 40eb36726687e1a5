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

#include "cifar_exp/choices.h"

namespace cifar_exp {

// model.convolution (Convolution in choices.h): how a frozen VGG16 backbone convolves on the
// CPU in fp32 (models.h: resolve_convolution).
//   auto:     Winograd through oneDNN where this build and CPU have it (with our AVX2 matrix
//             product for maps of 2 x 2 and less, which oneDNN convolves directly), else our
//             AVX2 Winograd (winograd.h), else libtorch's;
//   direct:   libtorch's convolutions (the same results as before this option existed);
//   winograd: Winograd through oneDNN, an error where it is not available;
//   winograd_avx2: ours, an error where it is not available.
// Winograd sums in another order: features differ from direct ones by ~1e-5 relative, so
// cached features record which ran (see Vgg16TransferImpl::feature_settings).

// Whether this binary was built with oneDNN.
bool onednn_backbone_available();
// Whether oneDNN runs Winograd convolutions on this CPU (x86-64 with AVX-512).
bool onednn_winograd_available();
// The oneDNN this binary runs its backbone on and the instruction set it uses on this CPU
// ("oneDNN 2.7.3, ISA avx2"), or why there is none; for provenance.
std::string onednn_description();

// Why Winograd is not available here (empty when it is), for error messages.
std::string onednn_winograd_unavailable_reason();

// One convolution of the stack: 3 x 3, stride 1, padding 1, ReLU after, then a 2 x 2 max pool
// if it ends a block.
struct BackboneLayer {
  torch::Tensor weight;  // out x in x 3 x 3, float32, any strides
  torch::Tensor bias;    // out
  bool pool_after = false;
};

class OnednnBackbone {
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
  torch::Tensor forward(const torch::Tensor& x, const std::vector<BackboneLayer>& layers);

  // The algorithm each convolution ran with in the last forward: "winograd" or "direct".
  std::vector<std::string> last_algorithms() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace cifar_exp
