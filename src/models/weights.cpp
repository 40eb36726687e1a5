// Loading VGG16 backbone weights by file format, and checking a loaded set against the layer
// table. The readers themselves are keras_weights.cpp and torchvision_weights.cpp.
#include "cifar_exp/models/weights.h"

#include <filesystem>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "cifar_exp/config/config.h"
#include "cifar_exp/io/errors.h"
#include "models/weight_checks.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

using Display = std::function<std::string(const std::string&)>;

// The key and shape of a convolution's two tensors: "<layer>.weight" (OIHW), "<layer>.bias".
std::vector<std::pair<std::string, std::vector<int64_t>>> conv_tensors(const Vgg16Conv& conv) {
  return {{conv.name + ".weight", {conv.out, conv.in, 3, 3}}, {conv.name + ".bias", {conv.out}}};
}

void check_tensor(const Vgg16Weights& weights, const std::string& path, const Display& display,
                  const Vgg16Conv& conv, const std::string& key,
                  const std::vector<int64_t>& shape) {
  const auto it = weights.find(key);
  if (it == weights.end() || !it->second.defined()) {
    throw WeightsError(path + ": missing tensor " + display(key) + " (VGG16 layer " + conv.name +
                       ", 3x3 conv " + std::to_string(conv.in) + "->" + std::to_string(conv.out) +
                       ", shape " + shape_string(shape) + ")");
  }
  const auto& tensor = it->second;
  if (tensor.scalar_type() != torch::kFloat32) {
    throw WeightsError(path + ": tensor " + display(key) + " has dtype " +
                       std::string(c10::toString(tensor.scalar_type())) +
                       ", expected Float (float32)");
  }
  if (tensor.sizes() != c10::IntArrayRef(shape)) {
    throw WeightsError(path + ": tensor " + display(key) + " has shape " +
                       shape_string(tensor.sizes()) + ", expected " + shape_string(shape) +
                       (shape.size() == 4 ? " (out, in, height, width)" : ""));
  }
}

std::string plain_name(const std::string& key) { return key; }

}  // namespace

std::string shape_string(c10::IntArrayRef sizes) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < sizes.size(); ++i) out << (i ? ", " : "") << sizes[i];
  out << "]";
  return out.str();
}

std::string download_hint() {
  return "get the Keras ImageNet weights with " + script_path("download_vgg16_weights.sh");
}

void require_file(const std::string& path, const std::string& hint) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    throw WeightsError(path + ": is a folder, not a weights file (" + hint + ")");
  }
  if (!fs::exists(path, ec)) throw WeightsError(path + ": weights file not found (" + hint + ")");
}

void check_weights(const Vgg16Weights& weights, const std::string& path, const Display& display) {
  std::set<std::string> expected;
  for (const auto& conv : vgg16_convs()) {
    for (const auto& [key, shape] : conv_tensors(conv)) {
      expected.insert(key);
      check_tensor(weights, path, display, conv, key, shape);
    }
  }
  for (const auto& [key, tensor] : weights) {
    if (!expected.count(key)) {
      throw WeightsError(path + ": unexpected tensor " + display(key) +
                         " (VGG16's backbone is only the 13 conv layers block1_conv1 ... "
                         "block5_conv3; a file with the classifier top? use " +
                         std::string(kNotopFile) + ")");
    }
  }
}

void check_vgg16_weights(const Vgg16Weights& weights, const std::string& path) {
  check_weights(weights, path, plain_name);
}

Vgg16Weights load_vgg16_weights(const std::string& path, WeightsFormat format) {
  switch (format) {
    case WeightsFormat::kKerasH5:
      return load_vgg16_keras_h5(path);
    case WeightsFormat::kTorchvision:
      return load_vgg16_torchvision(path);
  }
  throw WeightsError(path + ": unknown weights format");
}

}  // namespace cifar_exp
