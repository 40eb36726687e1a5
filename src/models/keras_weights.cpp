// The Keras .h5 reader of VGG16's backbone weights (format keras_h5 in weights.h), read like
// Keras' load_weights_from_hdf5_group: layer_names lists the layer groups, each group's
// weight_names its kernel and bias.
#include <fstream>
#include <utility>
#include <vector>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/models/weights.h"
#include "io/hdf5_file.h"
#include "models/weight_checks.h"

namespace cifar_exp {
namespace {

// Fails unless `path` is an HDF5 file, saying so when it is the zip archive torch.save writes.
void require_hdf5(const H5Reader& reader, const std::string& path) {
  if (is_hdf5_file(path)) return;
  std::ifstream in(path, std::ios::binary);
  char magic[2] = {0, 0};
  in.read(magic, 2);
  const bool zip = magic[0] == 'P' && magic[1] == 'K';
  reader.fail(std::string("not an HDF5 file (expected Keras VGG16 weights such as ") + kNotopFile +
              ")" +
              (zip ? "; it is a zip archive, as torch.save writes: use weights_format "
                     "torchvision"
                   : ""));
}

// Where the layer groups are: the file's root, or like Keras, a whole saved model's
// 'model_weights' group.
struct LayerGroups {
  H5Handle model_weights{-1, H5Gclose};  // open when the layers are in it
  hid_t root = -1;
  std::string prefix;              // of object names in messages: "" or "model_weights/"
  std::vector<std::string> names;  // the attribute layer_names, in the file's order
};

LayerGroups find_layer_groups(const H5Reader& reader, hid_t file) {
  LayerGroups groups;
  groups.root = file;
  auto names = reader.string_list(file, "/", "layer_names");
  if (!names && H5Lexists(file, "model_weights", H5P_DEFAULT) > 0) {
    groups.model_weights = H5Handle(H5Gopen2(file, "model_weights", H5P_DEFAULT), H5Gclose);
    if (!groups.model_weights.ok()) {
      reader.fail("cannot open group 'model_weights'" + hdf5_reason());
    }
    groups.root = groups.model_weights.get();
    groups.prefix = "model_weights/";
    names = reader.string_list(groups.root, "model_weights", "layer_names");
  }
  if (!names) {
    reader.fail(
        "no 'layer_names' attribute at the root or in group 'model_weights': not a Keras 2 "
        "weights file (Keras 3 .weights.h5 files are not supported)");
  }
  groups.names = std::move(*names);
  return groups;
}

// Fails unless `layer`, which has weights, is a convolution of VGG16 read for the first time,
// with two weights (kernel, bias).
void check_conv_layer(const H5Reader& reader, const std::string& layer, size_t weight_count,
                      const Vgg16Weights& weights) {
  if (!find_vgg16_conv(layer)) {
    reader.fail("unexpected layer '" + layer + "' with " + std::to_string(weight_count) +
                " weights (VGG16's backbone is only the 13 conv layers block1_conv1 ... "
                "block5_conv3; a file with the classifier top? use " +
                kNotopFile + ")");
  }
  if (weight_count != 2) {
    reader.fail("layer '" + layer + "' has " + std::to_string(weight_count) +
                " weights, expected 2 (kernel, bias)");
  }
  if (weights.count(layer + ".weight")) reader.fail("layer '" + layer + "' is listed twice");
}

// A convolution kernel, stored by Keras as height x width x in x out, in PyTorch's OIHW.
torch::Tensor read_kernel(const H5Reader& reader, hid_t group, const std::string& relative,
                          const std::string& object_name) {
  auto kernel = reader.float_dataset(group, relative, object_name);
  if (kernel.dim() != 4) {
    reader.fail("kernel '" + object_name + "' has shape " + shape_string(kernel.sizes()) +
                ", expected 4-D height x width x in x out");
  }
  // Keras HWIO -> PyTorch OIHW: weight[o][i][h][w] = kernel[h][w][i][o].
  return kernel.permute({3, 2, 0, 1}).contiguous();
}

// Adds the kernel and bias of `layer` to `weights`; input and pooling layers have none.
void read_layer(const H5Reader& reader, const LayerGroups& groups, const std::string& layer,
                Vgg16Weights& weights) {
  const std::string group_name = groups.prefix + layer;
  H5Handle group(H5Gopen2(groups.root, layer.c_str(), H5P_DEFAULT), H5Gclose);
  if (!group.ok()) {
    reader.fail("layer '" + layer + "' is listed in layer_names but group '" + group_name +
                "' cannot be opened" + hdf5_reason());
  }
  const auto weight_names = reader.string_list(group.get(), group_name, "weight_names");
  if (!weight_names) {
    reader.fail("layer group '" + group_name + "' has no 'weight_names' attribute");
  }
  if (weight_names->empty()) return;
  check_conv_layer(reader, layer, weight_names->size(), weights);
  const auto& kernel = (*weight_names)[0];
  const auto& bias = (*weight_names)[1];
  weights[layer + ".weight"] = read_kernel(reader, group.get(), kernel, group_name + "/" + kernel);
  weights[layer + ".bias"] = reader.float_dataset(group.get(), bias, group_name + "/" + bias);
}

}  // namespace

Vgg16Weights load_vgg16_keras_h5(const std::string& path) {
  require_file(path, download_hint());
  QuietHdf5 quiet;
  const H5Reader reader(path);
  require_hdf5(reader, path);
  H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) reader.fail("cannot open HDF5 file" + hdf5_reason());
  const LayerGroups groups = find_layer_groups(reader, file.get());
  Vgg16Weights weights;
  for (const auto& layer : groups.names) read_layer(reader, groups, layer, weights);
  check_vgg16_weights(weights, path);
  return weights;
}

}  // namespace cifar_exp
