// The layer table of VGG16's feature extractor: its 13 convolutions (Keras names, channels,
// blocks, torchvision indices) and the in-memory form of their weights.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace cifar_exp {

// One 3x3 convolution of VGG16's feature extractor (all are stride 1, padding 1, then ReLU).
struct Vgg16Conv {
  std::string name;           // Keras layer name, e.g. "block3_conv2"
  int64_t in = 0, out = 0;    // channels
  int block = 0;              // 1..5; each block ends with a 2x2 max pool
  int torchvision_index = 0;  // index in torchvision's vgg16().features
};

// The 13 convolutions, in forward order: block1_conv1 (3->64) ... block5_conv3 (512->512).
const std::vector<Vgg16Conv>& vgg16_convs();

// Whether convolution `conv` (an index into vgg16_convs()) is its block's last: a 2x2 max pool
// follows it.
bool vgg16_block_ends(size_t conv);

// The convolution named `name` (a Keras layer name), or nullptr when there is none.
const Vgg16Conv* find_vgg16_conv(const std::string& name);

// Parameters of the 13 convolutions: 14,714,688.
int64_t vgg16_parameter_count();

// PyTorch-layout tensors keyed by Keras layer name:
//   "block1_conv1.weight"  float32 out x in x 3 x 3 (OIHW)
//   "block1_conv1.bias"    float32 out
using Vgg16Weights = std::map<std::string, torch::Tensor>;

}  // namespace cifar_exp
