// Writers of VGG16 backbone weight files in the two formats the library reads (weights.h), for
// tests: Keras .h5 files in each of Keras' layouts, and torchvision torch.save files.
#pragma once

#include <string>

#include "cifar_exp/models/vgg16_layers.h"

namespace cifar_exp::testing {

// How Keras laid out the .h5 file (write_vgg16_keras_h5 can write all three; the loader reads all).
enum class KerasH5Layout {
  // The 2016 keras-applications release (the _notop.h5 download): datasets named
  // "block1_conv1_W_1:0", "block1_conv1_b_1:0" directly in the layer group; fixed-length
  // string attributes.
  kLegacy2016,
  // Keras 2 / tf-keras model.save_weights: datasets "block1_conv1/kernel:0",
  // "block1_conv1/bias:0" one group deeper; variable-length string attributes.
  kKeras2Weights,
  // Keras 2 / tf-keras model.save: the kKeras2Weights layer groups under a "model_weights" group.
  kKeras2Model,
};

// Writes the tensors of `weights` (float32 or float64, kept as given) as Keras would: one layer
// group per "<layer>" prefix, kernels transposed to HWIO, plus the weightless input and pooling
// layers of VGG16. Writes whatever it is given (incomplete or extra layers too). Failures are
// WeightsErrors.
void write_vgg16_keras_h5(const std::string& path, const Vgg16Weights& weights,
                          KerasH5Layout layout);

// Writes `weights` in the torchvision format (torch::pickle_save of a string -> tensor dict,
// which Python's torch.load reads as a dict). Known layer names become "features.<i>.*", other
// keys are written unchanged.
void write_vgg16_torchvision(const std::string& path, const Vgg16Weights& weights);

}  // namespace cifar_exp::testing
