// One way to run a frozen VGG16 backbone's convolution stack (BackbonePath): libtorch's direct
// convolutions (here), oneDNN's pipeline (onednn_backbone.h) or our AVX2 Winograd (winograd.h),
// and oneDNN's with the small maps handed to ours (here). The models hold one and call it;
// bench --layers times each through the same calls. Which one a model takes is
// convolution_path.h's.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace cifar_exp {

// One convolution of the stack: 3 x 3, stride 1, padding 1, ReLU after, then a 2 x 2 max pool
// if it ends a block.
struct BackboneLayer {
  torch::Tensor weight;  // out x in x 3 x 3, float32, any strides
  torch::Tensor bias;    // out
  bool pool_after = false;
};

// The small-map rule: a map of at most 2 x 2 (VGG16's block 5 at 32 x 32 inputs), where every
// output pixel sees every input pixel through one filter tap. oneDNN only convolves such maps
// directly, and Winograd tiles would waste most of their work, so ours does them as one matrix
// product.
bool small_map(int64_t height, int64_t width);

// The first of `layers` whose input map is small for an input of height x width (the pools
// halve the map), or layers.size().
size_t first_small_map(const std::vector<BackboneLayer>& layers, int64_t height, int64_t width);

class BackbonePath {
 public:
  virtual ~BackbonePath() = default;
  // What bench --layers calls it: "direct", "winograd_avx2", "winograd_avx512", "onednn".
  virtual std::string name() const = 0;
  // x: CPU float32 N x C x H x W, any strides, without autograd. Returns the last layer's output
  // (after its pool, if any).
  virtual torch::Tensor forward(const torch::Tensor& x,
                                const std::vector<BackboneLayer>& layers) = 0;
  // The algorithm each convolution ran with in the last forward: "direct", "winograd" (oneDNN's),
  // "winograd_avx2", "winograd_avx512", "matrix_avx2" or "matrix_avx512" (ours).
  virtual std::vector<std::string> last_algorithms() const = 0;
};

// libtorch's direct convolutions as a frozen backbone runs them: channels-last tensors, ReLU in
// place, the fused ReLU + pool (kernels.h) at a block's end. Returns a channels-last tensor.
class DirectBackbone : public BackbonePath {
 public:
  std::string name() const override { return "direct"; }
  torch::Tensor forward(const torch::Tensor& x, const std::vector<BackboneLayer>& layers) override;
  std::vector<std::string> last_algorithms() const override;

 private:
  mutable std::mutex mutex_;
  size_t last_layers_ = 0;
};

// `before` up to the first small map, `small_maps` from there: oneDNN's pipeline with block 5
// through our matrix product (oneDNN would convolve it directly, ~4x slower: BENCHMARKS.md).
class SmallMapsBeside : public BackbonePath {
 public:
  SmallMapsBeside(std::shared_ptr<BackbonePath> before, std::shared_ptr<BackbonePath> small_maps);
  std::string name() const override;
  torch::Tensor forward(const torch::Tensor& x, const std::vector<BackboneLayer>& layers) override;
  std::vector<std::string> last_algorithms() const override;

 private:
  std::shared_ptr<BackbonePath> before_, small_maps_;
  mutable std::mutex mutex_;
  std::vector<std::string> last_algorithms_;
};

}  // namespace cifar_exp
