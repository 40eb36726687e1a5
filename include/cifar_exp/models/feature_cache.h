// Backbone features for a frozen VGG16: computed once per split instead of once per epoch, and
// kept on disk so that a second run of the same setup skips the backbone entirely.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "cifar_exp/models/models.h"

namespace cifar_exp {

// Flattened backbone output (float32 N x F, on the images' device) of uint8 images, in batches
// of model.inference_batch_size(batch_size), without autograd, under the caller's autocast (an
// AutocastScope for training.precision bf16 makes the backbone compute in bf16; the result is
// still float32). Logs progress when `logger` is given. OutOfMemoryError naming
// training.eval_batch_size when a batch does not fit. ConfigError when the model has no feature
// source.
torch::Tensor compute_features(ClassifierImpl& model, const torch::Tensor& images,
                               int64_t batch_size,
                               const std::shared_ptr<spdlog::logger>& logger = nullptr,
                               const std::string& what = "");

// Hex key of everything the features depend on: the backbone's parameter values (so the weights
// file, or the seed of a random backbone), preprocessing, input size, the image bytes, the kind
// of device computing them (cpu, cuda) and its arithmetic there: fp32, TF32 (GPU) or bf16
// (autocast on for that device in this thread). `host_images`, when defined, is the same images
// on the host: their bytes are hashed instead, so that images on a GPU are not copied back.
std::string feature_cache_key(FeatureSource& source, const torch::Tensor& images,
                              const torch::Tensor& host_images = {});

// Features of `images` from `<cache_dir>/<feature_name>-<key>.pt` (vgg16-...) when present, else
// computed and saved there (atomically). An empty cache_dir disables the disk cache. `hit` tells
// which happened; `host_images` as for feature_cache_key.
torch::Tensor cached_features(ClassifierImpl& model, const torch::Tensor& images,
                              const std::string& cache_dir, int64_t batch_size,
                              const std::shared_ptr<spdlog::logger>& logger,
                              const std::string& split, bool* hit = nullptr,
                              const torch::Tensor& host_images = {});

// Writes a float32 2-D tensor as a NumPy .npy file (version 1.0, C order).
void write_npy(const std::string& path, const torch::Tensor& matrix);

}  // namespace cifar_exp
