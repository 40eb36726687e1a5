// Training-time augmentation with Keras ImageDataGenerator semantics (rotation, shifts, shear,
// zoom, flips, fill modes), plus random crop and cutout. A whole batch is transformed in one
// call on its own device; the exact coordinate and border rules are those written up in
// tests/fixtures/KERAS_AFFINE_SEMANTICS.md and checked against Keras' own output.
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "cifar_exp/config/config.h"

namespace cifar_exp {

// Per-image parameters of Keras' apply_affine_transform, each a float64 CPU tensor of N values.
// As in Keras: theta and shear in degrees; tx moves columns (tx > 0 moves content left), ty
// moves rows (ty > 0 moves content up); zx, zy > 1 zoom out.
struct AffineParams {
  torch::Tensor theta, tx, ty, shear, zx, zy;
  torch::Tensor flip_horizontal, flip_vertical;  // bool, applied after the affine part

  static AffineParams identity(int64_t n);
};

// Resamples `images` (float N x C x H x W, any device) bilinearly at Keras' inverse map for each
// image's parameters; `fill_mode` as Keras' (choices.h) and `cval` is the
// constant fill value (same units as `images`). Flips in `params` are applied afterwards.
// nearest and reflect on float32 CPU images run one pass of ours per image (the same sampling
// rules as the tensor path every other case takes, equal to float rounding).
torch::Tensor apply_affine(const torch::Tensor& images, const AffineParams& params,
                           FillMode fill_mode, double cval);

// Draws parameters and applies the configured augmentation to float training batches in [0, 1].
// All randomness comes from its own generator, seeded from the run's seed, so the same seed
// gives the same augmented batches on any device.
class Augmenter {
 public:
  Augmenter(const AugmentationConfig& config, uint64_t seed);

  // The random parameters for the next `n` images of size height x width.
  AffineParams draw(int64_t n, int64_t height, int64_t width);

  // Augments one batch (float N x 3 x H x W in [0, 1]); returns a new tensor.
  torch::Tensor operator()(const torch::Tensor& batch);

  // Its generator (a shared handle), whose state checkpoints save and restore.
  at::Generator generator() const { return generator_; }

 private:
  torch::Tensor random_crop(const torch::Tensor& batch);
  torch::Tensor cutout(const torch::Tensor& batch);
  torch::Tensor uniform(int64_t n, double low, double high);

  AugmentationConfig config_;
  at::Generator generator_;
};

}  // namespace cifar_exp
