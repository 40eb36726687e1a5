// VGG16's 13 convolutions as the backbone paths take them (backbone_path.h), for the kernel
// tests: Keras-initialised (Glorot-uniform weights, zero biases) from the global torch seed, and
// libtorch's direct stack (convolution, ReLU, 2 x 2 max pool; NCHW, no autograd) to check them
// against.
#pragma once

#include <vector>

#include <torch/torch.h>

#include "cifar_exp/models/kernels/backbone_path.h"

namespace cifar_exp::testing {

inline std::vector<BackboneLayer> vgg16_stack() {
  // Blocks of 2, 2, 3, 3 and 3 convolutions, each ending in a pool.
  const std::vector<int64_t> widths = {64,  64,  128, 128, 256, 256, 256,
                                       512, 512, 512, 512, 512, 512};
  const std::vector<bool> pools = {false, true,  false, true,  false, false, true,
                                   false, false, true,  false, false, true};
  std::vector<BackboneLayer> layers;
  int64_t in = 3;
  for (size_t i = 0; i < widths.size(); ++i) {
    auto weight = torch::empty({widths[i], in, 3, 3});
    torch::nn::init::xavier_uniform_(weight);
    layers.push_back({weight, torch::zeros({widths[i]}), pools[i]});
    in = widths[i];
  }
  return layers;
}

inline torch::Tensor libtorch_stack(const std::vector<BackboneLayer>& layers, torch::Tensor x) {
  torch::NoGradGuard no_grad;
  for (const auto& layer : layers) {
    x = torch::relu(torch::conv2d(x, layer.weight, layer.bias, 1, 1));
    if (layer.pool_after) x = torch::max_pool2d(x, 2);
  }
  return x;
}

}  // namespace cifar_exp::testing
