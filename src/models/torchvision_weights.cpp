// The torchvision reader of VGG16's backbone weights (format torchvision in weights.h): a
// torch.save zip archive of a plain dict {"features.<i>.weight": tensor, ...}.
#include <fstream>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

#include "cifar_exp/config/config.h"
#include "cifar_exp/io/errors.h"
#include "cifar_exp/models/weights.h"
#include "models/weight_checks.h"

namespace cifar_exp {
namespace {

// "block1_conv1.weight" -> {"block1_conv1", "weight"}; no dot -> {key, ""}.
std::pair<std::string, std::string> split_key(const std::string& key) {
  const auto dot = key.rfind('.');
  if (dot == std::string::npos) return {key, ""};
  return {key.substr(0, dot), key.substr(dot + 1)};
}

// "block5_conv3.bias" -> "features.28.bias"; nullopt for anything else.
std::optional<std::string> torchvision_key(const std::string& key) {
  const auto [layer, suffix] = split_key(key);
  const auto* conv = find_vgg16_conv(layer);
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

// How messages name one of our keys: "features.28.bias (block5_conv3.bias)".
std::string torchvision_display(const std::string& name) {
  const auto file_key = torchvision_key(name);
  return file_key ? *file_key + " (" + name + ")" : name;
}

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw WeightsError(path + ": cannot open for reading");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw WeightsError(path + ": read error");
  return bytes;
}

// Fails unless `bytes` start like the zip archive torch.save writes by default.
void require_zip(const std::string& path, const std::vector<char>& bytes) {
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
}

// torch::pickle_load, its failures explained for the Python objects libtorch cannot read.
torch::IValue unpickle(const std::string& path, const std::vector<char>& bytes) {
  try {
    return torch::pickle_load(bytes);
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
}

// The conv tensors of a {"features.<i>.<weight|bias>": tensor} dict under our keys, float32.
Vgg16Weights weights_from_dict(const std::string& path, const torch::IValue& value) {
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
  return weights;
}

}  // namespace

Vgg16Weights load_vgg16_torchvision(const std::string& path) {
  require_file(path, "write it with " + script_path("export_torchvision_vgg16.py") + ", or " +
                         download_hint() + " and use weights_format keras_h5");
  const auto bytes = read_bytes(path);
  require_zip(path, bytes);
  auto weights = weights_from_dict(path, unpickle(path, bytes));
  check_weights(weights, path, torchvision_display);
  return weights;
}

}  // namespace cifar_exp
