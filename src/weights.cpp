#include "cifar_exp/weights.h"

#include <hdf5.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include "cifar_exp/errors.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

const char* kDownloadHint = "get the Keras ImageNet weights with scripts/download_vgg16_weights.sh";
const char* kNotopFile = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5";

std::string shape_string(c10::IntArrayRef sizes) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < sizes.size(); ++i) out << (i ? ", " : "") << sizes[i];
  out << "]";
  return out.str();
}

const Vgg16Conv* find_conv(const std::string& name) {
  for (const auto& conv : vgg16_convs()) {
    if (conv.name == name) return &conv;
  }
  return nullptr;
}

// "block1_conv1.weight" -> {"block1_conv1", "weight"}; no dot -> {key, ""}.
std::pair<std::string, std::string> split_key(const std::string& key) {
  const auto dot = key.rfind('.');
  if (dot == std::string::npos) return {key, ""};
  return {key.substr(0, dot), key.substr(dot + 1)};
}

void require_file(const std::string& path, const std::string& hint) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    throw WeightsError(path + ": is a folder, not a weights file (" + hint + ")");
  }
  if (!fs::exists(path, ec)) throw WeightsError(path + ": weights file not found (" + hint + ")");
}

// Checks names, dtypes and shapes; `display` turns one of our keys into how the file names it.
void check_weights(const Vgg16Weights& weights, const std::string& path,
                   const std::function<std::string(const std::string&)>& display) {
  std::set<std::string> expected;
  for (const auto& conv : vgg16_convs()) {
    const std::vector<std::pair<std::string, std::vector<int64_t>>> tensors = {
        {conv.name + ".weight", {conv.out, conv.in, 3, 3}}, {conv.name + ".bias", {conv.out}}};
    for (const auto& [key, shape] : tensors) {
      expected.insert(key);
      const auto it = weights.find(key);
      if (it == weights.end() || !it->second.defined()) {
        throw WeightsError(path + ": missing tensor " + display(key) + " (VGG16 layer " +
                           conv.name + ", 3x3 conv " + std::to_string(conv.in) + "->" +
                           std::to_string(conv.out) + ", shape " + shape_string(shape) + ")");
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

std::string plain_name(const std::string& key) { return key; }

// ---------------------------------------------------------------------------------------------
// HDF5 helpers

// Owns one HDF5 identifier and closes it with the matching H5xclose.
class H5Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  ~H5Handle() {
    if (id_ >= 0) close_(id_);
  }
  H5Handle(H5Handle&& other) noexcept : id_(std::exchange(other.id_, -1)), close_(other.close_) {}
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  H5Handle& operator=(H5Handle&& other) noexcept {
    if (this != &other) {
      if (id_ >= 0) close_(id_);
      id_ = std::exchange(other.id_, -1);
      close_ = other.close_;
    }
    return *this;
  }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  Closer close_;
};

// Turns off HDF5's printing of its error stack for this scope; failures become WeightsErrors.
class QuietHdf5 {
 public:
  QuietHdf5() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietHdf5(const QuietHdf5&) = delete;
  QuietHdf5& operator=(const QuietHdf5&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// The innermost message of HDF5's error stack, as " (HDF5: ...)", or "" when there is none.
// Call right after the failing HDF5 call: the next call clears the stack.
std::string hdf5_reason() {
  std::string innermost;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* err, void* data) -> herr_t {
        if (n == 0 && err->desc) *static_cast<std::string*>(data) = err->desc;
        return 0;
      },
      &innermost);
  return innermost.empty() ? "" : " (HDF5: " + first_line(innermost) + ")";
}

std::string h5_class_name(H5T_class_t type_class) {
  switch (type_class) {
    case H5T_INTEGER:
      return "integer";
    case H5T_FLOAT:
      return "float";
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    default:
      return "class " + std::to_string(int(type_class));
  }
}

void reclaim_vlen(hid_t type, hid_t space, void* buffer) {
#if H5_VERSION_GE(1, 12, 0)
  H5Treclaim(type, space, H5P_DEFAULT, buffer);
#else
  H5Dvlen_reclaim(type, space, H5P_DEFAULT, buffer);
#endif
}

class H5Reader {
 public:
  explicit H5Reader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& what) const { throw WeightsError(path_ + ": " + what); }

  // A string-array attribute, as Keras' load_attributes_from_hdf5_group reads it: `name`, or
  // when too big for one attribute, chunks `name0`, `name1`, ... ; nullopt when absent.
  std::optional<std::vector<std::string>> string_list(hid_t object, const std::string& object_name,
                                                      const std::string& name) const {
    if (H5Aexists(object, name.c_str()) > 0) return read_strings(object, object_name, name);
    if (H5Aexists(object, (name + "0").c_str()) <= 0) return std::nullopt;
    std::vector<std::string> all;
    for (int chunk = 0; H5Aexists(object, (name + std::to_string(chunk)).c_str()) > 0; ++chunk) {
      auto part = read_strings(object, object_name, name + std::to_string(chunk));
      all.insert(all.end(), part.begin(), part.end());
    }
    return all;
  }

  // A float dataset (any float size; HDF5 converts to float32) as a tensor of its shape.
  torch::Tensor float_dataset(hid_t group, const std::string& relative,
                              const std::string& object_name) const {
    H5Handle dataset(H5Dopen2(group, relative.c_str(), H5P_DEFAULT), H5Dclose);
    if (!dataset.ok()) fail("cannot open dataset '" + object_name + "'" + hdf5_reason());
    H5Handle type(H5Dget_type(dataset.get()), H5Tclose);
    H5Handle space(H5Dget_space(dataset.get()), H5Sclose);
    if (!type.ok() || !space.ok())
      fail("cannot read dataset '" + object_name + "'" + hdf5_reason());
    const auto type_class = H5Tget_class(type.get());
    if (type_class != H5T_FLOAT) {
      fail("dataset '" + object_name + "' holds " + h5_class_name(type_class) +
           " data, expected float32");
    }
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0) fail("cannot read the shape of dataset '" + object_name + "'" + hdf5_reason());
    std::vector<hsize_t> dims(size_t(rank), 0);
    if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    std::vector<int64_t> sizes(dims.begin(), dims.end());
    auto tensor = torch::empty(sizes, torch::kFloat32);
    if (tensor.numel() > 0 && H5Dread(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL,
                                      H5P_DEFAULT, tensor.data_ptr<float>()) < 0) {
      fail("cannot read dataset '" + object_name + "'" + hdf5_reason());
    }
    return tensor;
  }

 private:
  std::vector<std::string> read_strings(hid_t object, const std::string& object_name,
                                        const std::string& name) const {
    const std::string what = "attribute '" + name + "' of '" + object_name + "'";
    H5Handle attr(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose);
    if (!attr.ok()) fail("cannot open " + what + hdf5_reason());
    H5Handle space(H5Aget_space(attr.get()), H5Sclose);
    H5Handle type(H5Aget_type(attr.get()), H5Tclose);
    if (!space.ok() || !type.ok()) fail("cannot read " + what + hdf5_reason());
    const hssize_t count = H5Sget_simple_extent_npoints(space.get());
    // Keras writes a layer without weights as an empty float64 array.
    if (H5Sget_simple_extent_type(space.get()) == H5S_NULL || count == 0) return {};
    if (count < 0) fail("cannot read " + what + hdf5_reason());
    if (H5Tget_class(type.get()) != H5T_STRING) {
      fail(what + " holds " + h5_class_name(H5Tget_class(type.get())) + " data, expected strings");
    }
    std::vector<std::string> values;
    if (H5Tis_variable_str(type.get()) > 0) {
      H5Handle memory_type(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(memory_type.get(), H5T_VARIABLE);
      H5Tset_cset(memory_type.get(), H5Tget_cset(type.get()));
      std::vector<char*> buffer(size_t(count), nullptr);
      if (H5Aread(attr.get(), memory_type.get(), buffer.data()) < 0) {
        fail("cannot read " + what + hdf5_reason());
      }
      for (char* value : buffer) values.emplace_back(value ? value : "");
      reclaim_vlen(memory_type.get(), space.get(), buffer.data());
    } else {
      const size_t size = H5Tget_size(type.get());
      H5Handle memory_type(H5Tcopy(type.get()), H5Tclose);
      std::vector<char> buffer(size * size_t(count) + 1, '\0');
      if (size == 0 || H5Aread(attr.get(), memory_type.get(), buffer.data()) < 0) {
        fail("cannot read " + what + hdf5_reason());
      }
      const bool space_padded = H5Tget_strpad(type.get()) == H5T_STR_SPACEPAD;
      for (hssize_t i = 0; i < count; ++i) {
        std::string value(buffer.data() + size_t(i) * size, size);
        value.resize(std::min(value.size(), value.find('\0')));
        if (space_padded) value.erase(value.find_last_not_of(' ') + 1);
        values.push_back(value);
      }
    }
    return values;
  }

  std::string path_;
};

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

  // An array of strings (a scalar when `scalar`), fixed-length (as h5py writes numpy bytes
  // arrays) or variable-length UTF-8 (as h5py writes str); an empty list is an empty float64
  // array, as Keras writes the weight_names of a layer without weights.
  void strings(hid_t object, const std::string& name, const std::vector<std::string>& values,
               bool variable_length, bool scalar = false) const {
    const std::string what = "attribute '" + name + "'";
    if (values.empty()) {
      const hsize_t zero = 0;
      H5Handle space(H5Screate_simple(1, &zero, nullptr), H5Sclose);
      H5Handle attr(
          H5Acreate2(object, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
          H5Aclose);
      if (!space.ok() || !attr.ok()) fail(what);
      return;
    }
    const hsize_t count = values.size();
    H5Handle space(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &count, nullptr), H5Sclose);
    H5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    if (!space.ok() || !type.ok()) fail(what);
    std::vector<const char*> pointers;
    std::vector<char> fixed;
    const void* buffer = nullptr;
    if (variable_length) {
      H5Tset_size(type.get(), H5T_VARIABLE);
      H5Tset_cset(type.get(), H5T_CSET_UTF8);
      for (const auto& value : values) pointers.push_back(value.c_str());
      buffer = pointers.data();
    } else {
      size_t size = 1;
      for (const auto& value : values) size = std::max(size, value.size());
      H5Tset_size(type.get(), size);
      H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
      fixed.assign(size * values.size(), '\0');
      for (size_t i = 0; i < values.size(); ++i) {
        std::copy(values[i].begin(), values[i].end(), fixed.begin() + i * size);
      }
      buffer = fixed.data();
    }
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
  std::string path_;
};

// ---------------------------------------------------------------------------------------------
// torchvision naming

std::optional<std::string> torchvision_key(const std::string& key) {
  const auto [layer, suffix] = split_key(key);
  const auto* conv = find_conv(layer);
  if (!conv || (suffix != "weight" && suffix != "bias")) return std::nullopt;
  return "features." + std::to_string(conv->torchvision_index) + "." + suffix;
}

// "features.28.bias" -> "block5_conv3.bias"; nullopt for anything else.
std::optional<std::string> key_from_torchvision(const std::string& key) {
  const std::string prefix = "features.";
  if (key.rfind(prefix, 0) != 0) return std::nullopt;
  const auto [layer, suffix] = split_key(key.substr(prefix.size()));
  if (suffix != "weight" && suffix != "bias") return std::nullopt;
  for (const auto& conv : vgg16_convs()) {
    if (std::to_string(conv.torchvision_index) == layer) return conv.name + "." + suffix;
  }
  return std::nullopt;
}

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw WeightsError(path + ": cannot open for reading");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw WeightsError(path + ": read error");
  return bytes;
}

}  // namespace

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

int64_t vgg16_parameter_count() {
  int64_t count = 0;
  for (const auto& conv : vgg16_convs()) count += conv.out * conv.in * 9 + conv.out;
  return count;
}

void check_vgg16_weights(const Vgg16Weights& weights, const std::string& path) {
  check_weights(weights, path, plain_name);
}

Vgg16Weights load_vgg16_weights(const std::string& path, const std::string& format) {
  if (format == "keras_h5") return load_vgg16_keras_h5(path);
  if (format == "torchvision") return load_vgg16_torchvision(path);
  throw WeightsError(path + ": unknown weights format '" + format +
                     "' (expected keras_h5 or torchvision)");
}

Vgg16Weights load_vgg16_keras_h5(const std::string& path) {
  require_file(path, kDownloadHint);
  QuietHdf5 quiet;
  const H5Reader reader(path);
#if H5_VERSION_GE(1, 12, 0)
  const htri_t is_hdf5 = H5Fis_accessible(path.c_str(), H5P_DEFAULT);
#else
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
#endif
  if (is_hdf5 <= 0) {
    std::ifstream in(path, std::ios::binary);
    char magic[2] = {0, 0};
    in.read(magic, 2);
    const bool zip = magic[0] == 'P' && magic[1] == 'K';
    reader.fail(std::string("not an HDF5 file (expected Keras VGG16 weights such as ") +
                kNotopFile + ")" +
                (zip ? "; it is a zip archive, as torch.save writes: use weights_format "
                       "torchvision"
                     : ""));
  }
  H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) reader.fail("cannot open HDF5 file" + hdf5_reason());

  // Like Keras: a whole saved model keeps its weights in the 'model_weights' group.
  H5Handle model_weights(-1, H5Gclose);
  hid_t root = file.get();
  std::string prefix;  // of object names in messages
  auto layer_names = reader.string_list(root, "/", "layer_names");
  if (!layer_names && H5Lexists(root, "model_weights", H5P_DEFAULT) > 0) {
    model_weights = H5Handle(H5Gopen2(root, "model_weights", H5P_DEFAULT), H5Gclose);
    if (!model_weights.ok()) reader.fail("cannot open group 'model_weights'" + hdf5_reason());
    root = model_weights.get();
    prefix = "model_weights/";
    layer_names = reader.string_list(root, "model_weights", "layer_names");
  }
  if (!layer_names) {
    reader.fail(
        "no 'layer_names' attribute at the root or in group 'model_weights': not a Keras 2 "
        "weights file (Keras 3 .weights.h5 files are not supported)");
  }

  Vgg16Weights weights;
  for (const auto& layer : *layer_names) {
    H5Handle group(H5Gopen2(root, layer.c_str(), H5P_DEFAULT), H5Gclose);
    if (!group.ok()) {
      reader.fail("layer '" + layer + "' is listed in layer_names but group '" + prefix + layer +
                  "' cannot be opened" + hdf5_reason());
    }
    const auto weight_names = reader.string_list(group.get(), prefix + layer, "weight_names");
    if (!weight_names) {
      reader.fail("layer group '" + prefix + layer + "' has no 'weight_names' attribute");
    }
    if (weight_names->empty()) continue;  // input and pooling layers
    if (!find_conv(layer)) {
      reader.fail("unexpected layer '" + layer + "' with " + std::to_string(weight_names->size()) +
                  " weights (VGG16's backbone is only the 13 conv layers block1_conv1 ... "
                  "block5_conv3; a file with the classifier top? use " +
                  kNotopFile + ")");
    }
    if (weight_names->size() != 2) {
      reader.fail("layer '" + layer + "' has " + std::to_string(weight_names->size()) +
                  " weights, expected 2 (kernel, bias)");
    }
    if (weights.count(layer + ".weight")) reader.fail("layer '" + layer + "' is listed twice");
    const auto kernel_name = prefix + layer + "/" + (*weight_names)[0];
    auto kernel = reader.float_dataset(group.get(), (*weight_names)[0], kernel_name);
    if (kernel.dim() != 4) {
      reader.fail("kernel '" + kernel_name + "' has shape " + shape_string(kernel.sizes()) +
                  ", expected 4-D height x width x in x out");
    }
    // Keras HWIO -> PyTorch OIHW: weight[o][i][h][w] = kernel[h][w][i][o].
    weights[layer + ".weight"] = kernel.permute({3, 2, 0, 1}).contiguous();
    weights[layer + ".bias"] = reader.float_dataset(group.get(), (*weight_names)[1],
                                                    prefix + layer + "/" + (*weight_names)[1]);
  }
  check_vgg16_weights(weights, path);
  return weights;
}

Vgg16Weights load_vgg16_torchvision(const std::string& path) {
  require_file(path, std::string("write it with scripts/export_torchvision_vgg16.py, or ") +
                         kDownloadHint + " and use weights_format keras_h5");
  const auto bytes = read_bytes(path);
  if (!bytes.empty() && static_cast<unsigned char>(bytes[0]) == 0x80) {
    throw WeightsError(path +
                       ": a legacy-format torch.save file (_use_new_zipfile_serialization=False) "
                       "or plain pickle, which libtorch cannot read: save it with torch.save's "
                       "default zip format (scripts/export_torchvision_vgg16.py)");
  }
  if (bytes.size() < 4 || bytes[0] != 'P' || bytes[1] != 'K') {
    const bool hdf5 = bytes.size() >= 8 && std::string(bytes.data(), 8) == "\x89HDF\r\n\x1a\n";
    throw WeightsError(path +
                       ": not a torch.save file (expected the zip archive torch.save writes; see "
                       "scripts/export_torchvision_vgg16.py)" +
                       (hdf5 ? "; it is an HDF5 file: use weights_format keras_h5" : ""));
  }
  torch::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const std::exception& e) {
    const std::string reason = first_line(e.what());
    std::string hint =
        "expected a plain dict of detached tensors, see "
        "scripts/export_torchvision_vgg16.py";
    // libtorch's unpickler turns collections.OrderedDict into None, then fails to fill it.
    if (reason.find("GenericDict but got None") != std::string::npos) {
      hint =
          "an OrderedDict, such as model.state_dict() saved directly, which libtorch cannot "
          "read: save dict(state_dict) instead";
    } else if (reason.find("_rebuild_parameter") != std::string::npos) {
      hint = "nn.Parameter values, which libtorch cannot read: save .detach()ed tensors";
    }
    throw WeightsError(path + ": cannot unpickle: " + reason + " (" + hint + ")");
  }
  if (!value.isGenericDict()) {
    throw WeightsError(path + ": holds " + std::string(value.tagKind()) +
                       ", not a dict of name -> tensor (see scripts/export_torchvision_vgg16.py)");
  }
  Vgg16Weights weights;
  for (const auto& entry : value.toGenericDict()) {
    if (!entry.key().isString()) {
      throw WeightsError(path + ": dict key of type " + std::string(entry.key().tagKind()) +
                         ", expected tensor names");
    }
    const std::string key = entry.key().toStringRef();
    if (!entry.value().isTensor()) {
      throw WeightsError(path + ": entry '" + key + "' is " + std::string(entry.value().tagKind()) +
                         ", not a tensor");
    }
    const auto ours = key_from_torchvision(key);
    if (!ours) {
      throw WeightsError(path + ": unexpected tensor " + key +
                         " (expected only the conv tensors features.{0,2,5,7,10,12,14,17,19,21,"
                         "24,26,28}.{weight,bias} of torchvision's vgg16)");
    }
    auto tensor = entry.value().toTensor();
    if (tensor.is_floating_point()) tensor = tensor.to(torch::kFloat32);
    weights[*ours] = tensor.contiguous();
  }
  check_weights(weights, path, [](const std::string& name) {
    const auto file_key = torchvision_key(name);
    return file_key ? *file_key + " (" + name + ")" : name;
  });
  return weights;
}

void write_vgg16_keras_h5(const std::string& path, const Vgg16Weights& weights,
                          KerasH5Layout layout) {
  // Layers in VGG16's order with its weightless input and pooling layers, then unknown ones.
  std::vector<std::string> layers = {"input_1"};
  std::set<std::string> known;
  for (size_t i = 0; i < vgg16_convs().size(); ++i) {
    const auto& conv = vgg16_convs()[i];
    known.insert(conv.name);
    if (weights.count(conv.name + ".weight") || weights.count(conv.name + ".bias")) {
      layers.push_back(conv.name);
    }
    if (i + 1 == vgg16_convs().size() || vgg16_convs()[i + 1].block != conv.block) {
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

  QuietHdf5 quiet;
  const H5Writer writer(path);
  H5Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) writer.fail("HDF5 file");
  const bool legacy = layout == KerasH5Layout::kLegacy2016;
  const bool variable_length = !legacy;
  H5Handle model_weights(-1, H5Gclose);
  hid_t root = file.get();
  if (layout == KerasH5Layout::kKeras2Model) {
    writer.strings(root, "keras_version", {"2.15.0"}, true, true);
    writer.strings(root, "backend", {"tensorflow"}, true, true);
    writer.strings(root, "model_config",
                   {R"({"class_name": "Functional", "config": {"name": "vgg16"}})"}, true, true);
    model_weights = writer.group(root, "model_weights", "model_weights");
    root = model_weights.get();
  }
  if (!legacy) {
    writer.strings(root, "keras_version", {"2.15.0"}, true, true);
    writer.strings(root, "backend", {"tensorflow"}, true, true);
  }
  writer.strings(root, "layer_names", layers, variable_length);

  for (const auto& layer : layers) {
    H5Handle group = writer.group(root, layer, layer);
    std::vector<std::string> weight_names;
    for (const auto& [key, tensor] : weights) {
      if (split_key(key).first != layer) continue;
      const auto suffix = split_key(key).second;
      // Keras keeps the kernel first.
      const bool kernel = suffix == "weight";
      std::string name;
      if (legacy) {
        name = layer + (kernel ? "_W_1:0" : suffix == "bias" ? "_b_1:0" : "_" + suffix + "_1:0");
      } else {
        name = layer + "/" + (kernel ? "kernel" : suffix) + ":0";
      }
      // PyTorch OIHW -> Keras HWIO; dense kernels are in x out in Keras.
      torch::Tensor stored = tensor;
      if (kernel && tensor.dim() == 4) stored = tensor.permute({2, 3, 1, 0});
      if (kernel && tensor.dim() == 2) stored = tensor.t();
      writer.dataset(group.get(), name, stored, layer + "/" + name);
      weight_names.insert(kernel ? weight_names.begin() : weight_names.end(), name);
    }
    writer.strings(group.get(), "weight_names", weight_names, variable_length);
  }
  if (H5Fflush(file.get(), H5F_SCOPE_GLOBAL) < 0) writer.fail("HDF5 file");
}

void write_vgg16_torchvision(const std::string& path, const Vgg16Weights& weights) {
  // torchvision's state_dict order: features.0.weight, features.0.bias, features.2.weight, ...
  std::vector<std::pair<std::string, torch::Tensor>> entries;
  for (const auto& conv : vgg16_convs()) {
    for (const char* suffix : {".weight", ".bias"}) {
      const auto it = weights.find(conv.name + suffix);
      if (it != weights.end()) entries.emplace_back(*torchvision_key(it->first), it->second);
    }
  }
  for (const auto& [key, tensor] : weights) {
    if (!torchvision_key(key)) entries.emplace_back(key, tensor);
  }
  c10::Dict<std::string, at::Tensor> dict;
  // clone(): a view would otherwise be saved with its whole storage.
  for (const auto& [key, tensor] : entries) {
    dict.insert_or_assign(key, tensor.detach().cpu().contiguous().clone());
  }
  const auto bytes = torch::pickle_save(dict);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw WeightsError(path + ": cannot open for writing");
  out.write(bytes.data(), std::streamsize(bytes.size()));
  out.close();
  if (!out) throw WeightsError(path + ": write error");
}

}  // namespace cifar_exp
