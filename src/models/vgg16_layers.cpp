// The layer table of VGG16's feature extractor (see vgg16_layers.h).
#include "cifar_exp/models/vgg16_layers.h"

namespace cifar_exp {

const std::vector<Vgg16Conv>& vgg16_convs() {
  static const std::vector<Vgg16Conv> convs = {
      {"block1_conv1", 3, 64, 1, 0},     {"block1_conv2", 64, 64, 1, 2},
      {"block2_conv1", 64, 128, 2, 5},   {"block2_conv2", 128, 128, 2, 7},
      {"block3_conv1", 128, 256, 3, 10}, {"block3_conv2", 256, 256, 3, 12},
      {"block3_conv3", 256, 256, 3, 14}, {"block4_conv1", 256, 512, 4, 17},
      {"block4_conv2", 512, 512, 4, 19}, {"block4_conv3", 512, 512, 4, 21},
      {"block5_conv1", 512, 512, 5, 24}, {"block5_conv2", 512, 512, 5, 26},
      {"block5_conv3", 512, 512, 5, 28},
  };
  return convs;
}

bool vgg16_block_ends(size_t conv) {
  const auto& convs = vgg16_convs();
  return conv + 1 == convs.size() || convs[conv + 1].block != convs[conv].block;
}

const Vgg16Conv* find_vgg16_conv(const std::string& name) {
  for (const auto& conv : vgg16_convs()) {
    if (conv.name == name) return &conv;
  }
  return nullptr;
}

int64_t vgg16_parameter_count() {
  int64_t count = 0;
  for (const auto& conv : vgg16_convs()) count += conv.out * conv.in * 9 + conv.out;
  return count;
}

}  // namespace cifar_exp
