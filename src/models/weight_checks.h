// What the weight file readers share: the check of a loaded tensor set against VGG16's layer
// table, the check that the file is there, and the hints their messages give. Private to the
// library; implemented in weights.cpp.
#pragma once

#include <functional>
#include <string>

#include <torch/torch.h>

#include "cifar_exp/models/vgg16_layers.h"

namespace cifar_exp {

// "get the Keras ImageNet weights with .../download_vgg16_weights.sh" (script_path).
std::string download_hint();
inline constexpr char kNotopFile[] = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5";

// "[64, 3, 3, 3]"
std::string shape_string(c10::IntArrayRef sizes);

// Throws WeightsError unless `path` is a file that exists; `hint` says where to get one.
void require_file(const std::string& path, const std::string& hint);

// Checks names, dtypes and shapes; `display` turns one of our keys into how the file names it.
void check_weights(const Vgg16Weights& weights, const std::string& path,
                   const std::function<std::string(const std::string&)>& display);

}  // namespace cifar_exp
