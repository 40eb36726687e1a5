// Writers of VGG16 backbone weight files for tests (see weight_files.h).
#include "weight_files.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <utility>
#include <vector>

#include "cifar_exp/io/errors.h"
#include "io/hdf5_file.h"  // the library's private HDF5 handles (src/)

namespace cifar_exp::testing {
namespace {

// "block1_conv1.weight" -> {"block1_conv1", "weight"}; no dot -> {key, ""}.
std::pair<std::string, std::string> split_key(const std::string& key) {
  const auto dot = key.rfind('.');
  if (dot == std::string::npos) return {key, ""};
  return {key.substr(0, dot), key.substr(dot + 1)};
}

// Sets `type` to variable-length UTF-8 strings (as h5py writes str); returns the buffer to write,
// which points into `values` through `pointers`.
const void* variable_strings(hid_t type, const std::vector<std::string>& values,
                             std::vector<const char*>& pointers) {
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  for (const auto& value : values) pointers.push_back(value.c_str());
  return pointers.data();
}

// Sets `type` to null-padded strings of the longest value's length (as h5py writes numpy bytes
// arrays); returns the buffer to write, `fixed`.
const void* fixed_strings(hid_t type, const std::vector<std::string>& values,
                          std::vector<char>& fixed) {
  size_t size = 1;
  for (const auto& value : values) size = std::max(size, value.size());
  H5Tset_size(type, size);
  H5Tset_strpad(type, H5T_STR_NULLPAD);
  fixed.assign(size * values.size(), '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    std::copy(values[i].begin(), values[i].end(), fixed.begin() + i * size);
  }
  return fixed.data();
}

// Writes float tensors, string attributes and groups, turning failures into WeightsErrors.
class H5Writer {
 public:
  explicit H5Writer(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw WeightsError(path_ + ": cannot write " + what + hdf5_reason());
  }

  H5Handle group(hid_t parent, const std::string& name, const std::string& object_name) const {
    H5Handle group(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                   H5Gclose);
    if (!group.ok()) fail("group '" + object_name + "'");
    return group;
  }

  // An array of strings (a scalar when `scalar`), fixed-length or variable-length UTF-8; an empty
  // list is an empty float64 array, as Keras writes the weight_names of a layer without weights.
  void strings(hid_t object, const std::string& name, const std::vector<std::string>& values,
               bool variable_length, bool scalar = false) const {
    const std::string what = "attribute '" + name + "'";
    if (values.empty()) return empty_array(object, name, what);
    const hsize_t count = values.size();
    H5Handle space(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &count, nullptr), H5Sclose);
    H5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    if (!space.ok() || !type.ok()) fail(what);
    std::vector<const char*> pointers;
    std::vector<char> fixed;
    const void* buffer = variable_length ? variable_strings(type.get(), values, pointers)
                                         : fixed_strings(type.get(), values, fixed);
    H5Handle attr(
        H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
        H5Aclose);
    if (!attr.ok() || H5Awrite(attr.get(), type.get(), buffer) < 0) fail(what);
  }

  // Creates intermediate groups of `relative` ("block1_conv1/kernel:0") as Keras' files have.
  void dataset(hid_t group, const std::string& relative, const torch::Tensor& tensor,
               const std::string& object_name) const {
    const bool as_double = tensor.scalar_type() == torch::kFloat64;
    const auto data =
        tensor.detach().to(torch::kCPU, as_double ? torch::kFloat64 : torch::kFloat32).contiguous();
    std::vector<hsize_t> dims(data.sizes().begin(), data.sizes().end());
    H5Handle space(dims.empty() ? H5Screate(H5S_SCALAR)
                                : H5Screate_simple(int(dims.size()), dims.data(), nullptr),
                   H5Sclose);
    H5Handle links(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
    if (!space.ok() || !links.ok() || H5Pset_create_intermediate_group(links.get(), 1) < 0) {
      fail("dataset '" + object_name + "'");
    }
    H5Handle dataset(
        H5Dcreate2(group, relative.c_str(), as_double ? H5T_IEEE_F64LE : H5T_IEEE_F32LE,
                   space.get(), links.get(), H5P_DEFAULT, H5P_DEFAULT),
        H5Dclose);
    if (!dataset.ok()) fail("dataset '" + object_name + "'");
    if (data.numel() > 0 &&
        H5Dwrite(dataset.get(), as_double ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL,
                 H5P_DEFAULT, data.data_ptr()) < 0) {
      fail("dataset '" + object_name + "'");
    }
  }

 private:
  void empty_array(hid_t object, const std::string& name, const std::string& what) const {
    const hsize_t zero = 0;
    H5Handle space(H5Screate_simple(1, &zero, nullptr), H5Sclose);
    H5Handle attr(
        H5Acreate2(object, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
        H5Aclose);
    if (!space.ok() || !attr.ok()) fail(what);
  }

  std::string path_;
};

// Layers in VGG16's order with its weightless input and pooling layers, then unknown ones.
std::vector<std::string> keras_layers(const Vgg16Weights& weights) {
  std::vector<std::string> layers = {"input_1"};
  std::set<std::string> known;
  const auto& convs = vgg16_convs();
  for (size_t i = 0; i < convs.size(); ++i) {
    const auto& conv = convs[i];
    known.insert(conv.name);
    if (weights.count(conv.name + ".weight") || weights.count(conv.name + ".bias")) {
      layers.push_back(conv.name);
    }
    if (i + 1 == convs.size() || convs[i + 1].block != conv.block) {
      layers.push_back("block" + std::to_string(conv.block) + "_pool");
    }
  }
  for (const auto& [key, tensor] : weights) {
    const auto layer = split_key(key).first;
    if (!known.count(layer)) {
      known.insert(layer);
      layers.push_back(layer);
    }
  }
  return layers;
}

// A whole saved model (kKeras2Model) has Keras' model attributes at the root and its layers in a
// 'model_weights' group, returned open; other layouts keep the layers at the root (returns -1).
H5Handle model_weights_group(const H5Writer& writer, hid_t file, KerasH5Layout layout) {
  if (layout != KerasH5Layout::kKeras2Model) return H5Handle(-1, H5Gclose);
  writer.strings(file, "keras_version", {"2.15.0"}, true, true);
  writer.strings(file, "backend", {"tensorflow"}, true, true);
  writer.strings(file, "model_config",
                 {R"({"class_name": "Functional", "config": {"name": "vgg16"}})"}, true, true);
  return writer.group(file, "model_weights", "model_weights");
}

// The name Keras gives the tensor `suffix` ("weight" is the kernel) of `layer`.
std::string keras_dataset_name(const std::string& layer, const std::string& suffix, bool legacy) {
  const bool kernel = suffix == "weight";
  if (legacy) {
    return layer + (kernel ? "_W_1:0" : suffix == "bias" ? "_b_1:0" : "_" + suffix + "_1:0");
  }
  return layer + "/" + (kernel ? "kernel" : suffix) + ":0";
}

// The group of `layer`: its tensors of `weights` as datasets and their names in weight_names.
void write_layer(const H5Writer& writer, hid_t root, const std::string& layer,
                 const Vgg16Weights& weights, bool legacy) {
  H5Handle group = writer.group(root, layer, layer);
  std::vector<std::string> weight_names;
  for (const auto& [key, tensor] : weights) {
    const auto [key_layer, suffix] = split_key(key);
    if (key_layer != layer) continue;
    const bool kernel = suffix == "weight";
    const std::string name = keras_dataset_name(layer, suffix, legacy);
    // PyTorch OIHW -> Keras HWIO; dense kernels are in x out in Keras.
    torch::Tensor stored = tensor;
    if (kernel && tensor.dim() == 4) stored = tensor.permute({2, 3, 1, 0});
    if (kernel && tensor.dim() == 2) stored = tensor.t();
    writer.dataset(group.get(), name, stored, layer + "/" + name);
    // Keras keeps the kernel first.
    weight_names.insert(kernel ? weight_names.begin() : weight_names.end(), name);
  }
  writer.strings(group.get(), "weight_names", weight_names, !legacy);
}

// The entries of a torchvision file in torchvision's state_dict order (features.0.weight,
// features.0.bias, features.2.weight, ...), then the keys that are no VGG16 tensor, unchanged.
std::vector<std::pair<std::string, torch::Tensor>> torchvision_entries(
    const Vgg16Weights& weights) {
  std::vector<std::pair<std::string, torch::Tensor>> entries;
  std::set<std::string> renamed;
  for (const auto& conv : vgg16_convs()) {
    for (const std::string suffix : {"weight", "bias"}) {
      const auto it = weights.find(conv.name + "." + suffix);
      if (it == weights.end()) continue;
      entries.emplace_back("features." + std::to_string(conv.torchvision_index) + "." + suffix,
                           it->second);
      renamed.insert(it->first);
    }
  }
  for (const auto& [key, tensor] : weights) {
    if (!renamed.count(key)) entries.emplace_back(key, tensor);
  }
  return entries;
}

}  // namespace

void write_vgg16_keras_h5(const std::string& path, const Vgg16Weights& weights,
                          KerasH5Layout layout) {
  const auto layers = keras_layers(weights);
  const bool legacy = layout == KerasH5Layout::kLegacy2016;
  QuietHdf5 quiet;
  const H5Writer writer(path);
  H5Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) writer.fail("HDF5 file");
  const H5Handle model_weights = model_weights_group(writer, file.get(), layout);
  const hid_t root = model_weights.ok() ? model_weights.get() : file.get();
  if (!legacy) {
    writer.strings(root, "keras_version", {"2.15.0"}, true, true);
    writer.strings(root, "backend", {"tensorflow"}, true, true);
  }
  writer.strings(root, "layer_names", layers, !legacy);  // fixed-length strings only in 2016
  for (const auto& layer : layers) write_layer(writer, root, layer, weights, legacy);
  if (H5Fflush(file.get(), H5F_SCOPE_GLOBAL) < 0) writer.fail("HDF5 file");
}

void write_vgg16_torchvision(const std::string& path, const Vgg16Weights& weights) {
  c10::Dict<std::string, at::Tensor> dict;
  // clone(): a view would otherwise be saved with its whole storage.
  for (const auto& [key, tensor] : torchvision_entries(weights)) {
    dict.insert_or_assign(key, tensor.detach().cpu().contiguous().clone());
  }
  const auto bytes = torch::pickle_save(dict);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw WeightsError(path + ": cannot open for writing");
  out.write(bytes.data(), std::streamsize(bytes.size()));
  out.close();
  if (!out) throw WeightsError(path + ": write error");
}

}  // namespace cifar_exp::testing
