// Tests for weights.h: Keras .h5 and torchvision files in their published layouts.
#include "cifar_exp/models/weights.h"

#include <gtest/gtest.h>
#include <hdf5.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>

#include "cifar_exp/io/errors.h"
#include "test_paths.h"
#include "test_support.h"
#include "weight_files.h"

namespace cifar_exp {
namespace {

using testing::KerasH5Layout;
using testing::write_vgg16_keras_h5;
using testing::write_vgg16_torchvision;

// Full-size VGG16 backbone weights (58 MB), small deterministic values, distinct per layer.
Vgg16Weights random_weights(uint64_t seed) {
  auto generator = at::detail::createCPUGenerator(seed);
  Vgg16Weights weights;
  for (const auto& conv : vgg16_convs()) {
    weights[conv.name + ".weight"] =
        torch::randn({conv.out, conv.in, 3, 3}, generator, torch::kFloat32) * 0.01;
    weights[conv.name + ".bias"] = torch::randn({conv.out}, generator, torch::kFloat32) * 0.1;
  }
  return weights;
}

void expect_same_weights(const Vgg16Weights& actual, const Vgg16Weights& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [key, tensor] : expected) {
    ASSERT_TRUE(actual.count(key)) << key;
    const auto& got = actual.at(key);
    EXPECT_EQ(got.scalar_type(), torch::kFloat32) << key;
    EXPECT_TRUE(got.is_contiguous()) << key;
    EXPECT_TRUE(torch::equal(got, tensor)) << key;
  }
}

std::string weights_error(const std::function<void()>& load) {
  try {
    load();
  } catch (const WeightsError& e) {
    EXPECT_EQ(e.code(), ExitCode::kWeights);
    return e.what();
  }
  ADD_FAILURE() << "no WeightsError";
  return "";
}

std::string keras_error(const std::string& path) {
  return weights_error([&] { load_vgg16_keras_h5(path); });
}
std::string torchvision_error(const std::string& path) {
  return weights_error([&] { load_vgg16_torchvision(path); });
}

// Every HDF5 file, group, dataset and attribute the library opened has been closed again.
void expect_no_open_hdf5_objects() { EXPECT_EQ(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0); }

const KerasH5Layout kLayouts[] = {KerasH5Layout::kLegacy2016, KerasH5Layout::kKeras2Weights,
                                  KerasH5Layout::kKeras2Model};

TEST(WeightsLayout, ThirteenConvsInForwardOrder) {
  const auto& convs = vgg16_convs();
  ASSERT_EQ(convs.size(), 13u);
  const std::vector<std::string> names = {
      "block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2", "block3_conv1",
      "block3_conv2", "block3_conv3", "block4_conv1", "block4_conv2", "block4_conv3",
      "block5_conv1", "block5_conv2", "block5_conv3"};
  const std::vector<int> torchvision = {0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28};
  const std::vector<int64_t> out = {64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512};
  int64_t in = 3;
  for (size_t i = 0; i < convs.size(); ++i) {
    EXPECT_EQ(convs[i].name, names[i]);
    EXPECT_EQ(convs[i].in, in) << names[i];
    EXPECT_EQ(convs[i].out, out[i]) << names[i];
    EXPECT_EQ(convs[i].block, names[i][5] - '0') << names[i];
    EXPECT_EQ(convs[i].torchvision_index, torchvision[i]) << names[i];
    in = convs[i].out;
  }
  EXPECT_EQ(vgg16_parameter_count(), 14714688);
  int64_t numel = 0;
  for (const auto& [key, tensor] : random_weights(1)) numel += tensor.numel();
  EXPECT_EQ(numel, 14714688);
  EXPECT_NO_THROW(check_vgg16_weights(random_weights(1), "mem"));
}

TEST(Weights, KerasH5RoundTripsInEveryLayout) {
  testing::TempDir dir;
  const auto weights = random_weights(7);
  for (const auto layout : kLayouts) {
    SCOPED_TRACE(int(layout));
    const auto path = dir / "vgg16.h5";
    write_vgg16_keras_h5(path, weights, layout);
    expect_same_weights(load_vgg16_keras_h5(path), weights);
    expect_same_weights(load_vgg16_weights(path, WeightsFormat::kKerasH5), weights);
    expect_no_open_hdf5_objects();
  }
}

TEST(Weights, TorchvisionRoundTripsAndMatchesKerasFile) {
  testing::TempDir dir;
  const auto weights = random_weights(8);
  write_vgg16_torchvision(dir / "vgg16.pt", weights);
  write_vgg16_keras_h5(dir / "vgg16.h5", weights, KerasH5Layout::kLegacy2016);
  const auto from_torchvision = load_vgg16_weights(dir / "vgg16.pt", WeightsFormat::kTorchvision);
  expect_same_weights(from_torchvision, weights);
  // The same values through both formats load to identical tensors.
  expect_same_weights(load_vgg16_weights(dir / "vgg16.h5", WeightsFormat::kKerasH5),
                      from_torchvision);
}

TEST(Weights, TorchvisionFileIsAPlainDictOfFeaturesTensors) {
  testing::TempDir dir;
  const auto weights = random_weights(9);
  write_vgg16_torchvision(dir / "vgg16.pt", weights);
  std::ifstream in(dir / "vgg16.pt", std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GE(bytes.size(), 4u);
  EXPECT_EQ(std::string(bytes.data(), 2), "PK");  // the zip container torch.save writes
  const auto value = torch::pickle_load(bytes);
  ASSERT_TRUE(value.isGenericDict());
  const auto dict = value.toGenericDict();
  EXPECT_EQ(dict.size(), 26u);
  // torchvision's vgg16().features indices.
  EXPECT_TRUE(
      torch::equal(dict.at("features.0.weight").toTensor(), weights.at("block1_conv1.weight")));
  EXPECT_TRUE(
      torch::equal(dict.at("features.12.bias").toTensor(), weights.at("block3_conv2.bias")));
  EXPECT_TRUE(
      torch::equal(dict.at("features.28.weight").toTensor(), weights.at("block5_conv3.weight")));
  // First entries in state_dict order.
  auto it = dict.begin();
  EXPECT_EQ(it->key().toStringRef(), "features.0.weight");
  ++it;
  EXPECT_EQ(it->key().toStringRef(), "features.0.bias");
}

// Writes a Keras HWIO kernel with distinct values straight into the file (not through
// write_vgg16_keras_h5), loads it and checks one output pixel of the convolution by hand, so a
// transposed or flipped kernel cannot go unnoticed.
TEST(Weights, KerasKernelOrientationMatchesHandComputedConvolution) {
  testing::TempDir dir;
  const auto path = dir / "vgg16.h5";
  write_vgg16_keras_h5(path, random_weights(3), KerasH5Layout::kLegacy2016);

  const int64_t kh = 3, kw = 3, cin = 3, cout = 64;
  std::vector<float> kernel(size_t(kh * kw * cin * cout));  // kernel[h][w][i][o]
  auto k = [&](int64_t h, int64_t w, int64_t i, int64_t o) -> float& {
    return kernel[size_t(((h * kw + w) * cin + i) * cout + o)];
  };
  for (int64_t h = 0; h < kh; ++h)
    for (int64_t w = 0; w < kw; ++w)
      for (int64_t i = 0; i < cin; ++i)
        for (int64_t o = 0; o < cout; ++o)
          k(h, w, i, o) =
              float(h * 0.3 + w * 0.07 + i * 0.011 + o * 0.0001 + (h == 0 && w == 2 ? 1.0 : 0.0));
  {
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    const hid_t dataset = H5Dopen2(file, "block1_conv1/block1_conv1_W_1:0", H5P_DEFAULT);
    ASSERT_GE(dataset, 0);
    EXPECT_GE(H5Dwrite(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, kernel.data()), 0);
    H5Dclose(dataset);
    H5Fclose(file);
  }
  const auto weights = load_vgg16_keras_h5(path);
  const auto weight = weights.at("block1_conv1.weight");
  const auto bias = weights.at("block1_conv1.bias");
  ASSERT_EQ(weight.sizes(), (std::vector<int64_t>{64, 3, 3, 3}));
  EXPECT_EQ(weight[5][1][0][2].item<float>(), k(0, 2, 1, 5));  // weight[o][i][h][w]

  auto input = torch::arange(3 * 5 * 6, torch::kFloat32).reshape({1, 3, 5, 6}).sin();
  const auto output = torch::conv2d(input, weight, bias, /*stride=*/1, /*padding=*/1);
  // Cross-correlation, as Keras' Conv2D computes it, at output pixel (y, x) = (1, 3), channel 5.
  const int64_t y = 1, x = 3, o = 5;
  double expected = bias[o].item<double>();
  for (int64_t h = 0; h < kh; ++h)
    for (int64_t w = 0; w < kw; ++w)
      for (int64_t i = 0; i < cin; ++i) {
        expected += input[0][i][y + h - 1][x + w - 1].item<double>() * k(h, w, i, o);
      }
  EXPECT_NEAR(output[0][o][y][x].item<double>(), expected, 1e-4);
  // A transposed (h <-> w) kernel would give a clearly different value here.
  double transposed = bias[o].item<double>();
  for (int64_t h = 0; h < kh; ++h)
    for (int64_t w = 0; w < kw; ++w)
      for (int64_t i = 0; i < cin; ++i) {
        transposed += input[0][i][y + h - 1][x + w - 1].item<double>() * k(w, h, i, o);
      }
  EXPECT_GT(std::abs(transposed - expected), 0.1);
}

TEST(Weights, KerasFloat64IsConvertedToFloat32) {
  testing::TempDir dir;
  auto weights = random_weights(4);
  Vgg16Weights doubles;
  for (const auto& [key, tensor] : weights) doubles[key] = tensor.to(torch::kFloat64);
  write_vgg16_keras_h5(dir / "vgg16.h5", doubles, KerasH5Layout::kKeras2Weights);
  expect_same_weights(load_vgg16_keras_h5(dir / "vgg16.h5"), weights);
}

TEST(Weights, MissingFileNamesPathAndDownloadScript) {
  testing::TempDir dir;
  for (const auto& entry : ChoiceNames<WeightsFormat>::kNames) {
    const WeightsFormat format = entry.first;
    const auto message = weights_error([&] { load_vgg16_weights(dir / "nope.h5", format); });
    EXPECT_NE(message.find(dir / "nope.h5"), std::string::npos) << message;
    EXPECT_NE(message.find("not found"), std::string::npos) << message;
    EXPECT_NE(message.find("scripts/download_vgg16_weights.sh"), std::string::npos) << message;
  }
  const auto folder = weights_error([&] { load_vgg16_keras_h5(dir.path()); });
  EXPECT_NE(folder.find("is a folder"), std::string::npos) << folder;
}

TEST(Weights, FileThatIsNotHdf5) {
  testing::TempDir dir;
  testing::write_text(dir / "fake.h5", "<html>404 Not Found</html>\n");
  const auto message = keras_error(dir / "fake.h5");
  EXPECT_EQ(message, dir / "fake.h5" +
                         ": not an HDF5 file (expected Keras VGG16 weights such as "
                         "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5)");
  // An HDF5 file that is not a Keras file.
  {
    const hid_t file =
        H5Fcreate((dir / "other.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    H5Fclose(file);
  }
  const auto other = keras_error(dir / "other.h5");
  EXPECT_NE(other.find("no 'layer_names' attribute"), std::string::npos) << other;
}

TEST(Weights, MissingLayerIsNamed) {
  testing::TempDir dir;
  auto weights = random_weights(5);
  weights.erase("block5_conv3.weight");
  weights.erase("block5_conv3.bias");
  for (const auto layout : kLayouts) {
    write_vgg16_keras_h5(dir / "vgg16.h5", weights, layout);
    const auto message = keras_error(dir / "vgg16.h5");
    EXPECT_EQ(message.rfind(dir / "vgg16.h5: missing tensor block5_conv3.weight", 0), 0u)
        << message;
  }
  write_vgg16_torchvision(dir / "vgg16.pt", weights);
  const auto message = torchvision_error(dir / "vgg16.pt");
  EXPECT_EQ(
      message.rfind(dir / "vgg16.pt: missing tensor features.28.weight (block5_conv3.weight)", 0),
      0u)
      << message;
  // Only a bias missing.
  weights = random_weights(5);
  weights.erase("block2_conv1.bias");
  write_vgg16_keras_h5(dir / "vgg16.h5", weights, KerasH5Layout::kKeras2Weights);
  const auto bias = keras_error(dir / "vgg16.h5");
  EXPECT_NE(bias.find("layer 'block2_conv1' has 1 weights, expected 2 (kernel, bias)"),
            std::string::npos)
      << bias;
}

TEST(Weights, ExtraTensorsAreNamed) {
  testing::TempDir dir;
  auto weights = random_weights(6);
  weights["classifier.0.weight"] = torch::zeros({4, 8});
  write_vgg16_torchvision(dir / "vgg16.pt", weights);
  const auto message = torchvision_error(dir / "vgg16.pt");
  EXPECT_EQ(message.rfind(dir / "vgg16.pt: unexpected tensor classifier.0.weight", 0), 0u)
      << message;

  weights.erase("classifier.0.weight");
  weights["fc1.weight"] = torch::zeros({4, 8});
  weights["fc1.bias"] = torch::zeros({4});
  write_vgg16_keras_h5(dir / "vgg16.h5", weights, KerasH5Layout::kLegacy2016);
  const auto keras = keras_error(dir / "vgg16.h5");
  EXPECT_EQ(keras.rfind(dir / "vgg16.h5: unexpected layer 'fc1' with 2 weights", 0), 0u) << keras;
  EXPECT_NE(keras.find("_notop.h5"), std::string::npos) << keras;

  weights.erase("fc1.weight");
  weights.erase("fc1.bias");
  weights["block1_conv1.running_mean"] = torch::zeros({64});
  const auto checked = weights_error([&] { check_vgg16_weights(weights, "mem"); });
  EXPECT_EQ(checked.rfind("mem: unexpected tensor block1_conv1.running_mean", 0), 0u) << checked;
}

TEST(Weights, MisShapedTensorIsNamed) {
  testing::TempDir dir;
  auto weights = random_weights(10);
  weights["block3_conv2.weight"] = torch::zeros({256, 128, 3, 3});
  write_vgg16_keras_h5(dir / "vgg16.h5", weights, KerasH5Layout::kKeras2Model);
  EXPECT_EQ(keras_error(dir / "vgg16.h5"),
            dir / "vgg16.h5" +
                ": tensor block3_conv2.weight has shape [256, 128, 3, 3], expected "
                "[256, 256, 3, 3] (out, in, height, width)");
  write_vgg16_torchvision(dir / "vgg16.pt", weights);
  EXPECT_EQ(torchvision_error(dir / "vgg16.pt"),
            dir / "vgg16.pt" +
                ": tensor features.12.weight (block3_conv2.weight) has shape [256, 128, 3, 3], "
                "expected [256, 256, 3, 3] (out, in, height, width)");

  weights = random_weights(10);
  weights["block4_conv1.bias"] = torch::zeros({512, 1});
  write_vgg16_keras_h5(dir / "vgg16.h5", weights, KerasH5Layout::kLegacy2016);
  const auto bias = keras_error(dir / "vgg16.h5");
  EXPECT_NE(bias.find("tensor block4_conv1.bias has shape [512, 1], expected [512]"),
            std::string::npos)
      << bias;
  weights = random_weights(10);
  weights["block1_conv1.weight"] = torch::zeros({64, 3, 3});
  write_vgg16_keras_h5(dir / "vgg16.h5", weights, KerasH5Layout::kLegacy2016);
  const auto rank = keras_error(dir / "vgg16.h5");
  EXPECT_NE(
      rank.find("kernel 'block1_conv1/block1_conv1_W_1:0' has shape [64, 3, 3], expected 4-D"),
      std::string::npos)
      << rank;
  expect_no_open_hdf5_objects();  // after errors too
  weights["block1_conv1.weight"] = torch::zeros({64, 3, 3, 3}, torch::kInt32);
  const auto dtype = weights_error([&] { check_vgg16_weights(weights, "mem"); });
  EXPECT_EQ(dtype, "mem: tensor block1_conv1.weight has dtype Int, expected Float (float32)");
}

TEST(Weights, TorchvisionFilesLibtorchCannotReadGetClearErrors) {
  testing::TempDir dir;
  // What torch.save(..., _use_new_zipfile_serialization=False) and pickle.dump start with.
  testing::write_text(dir / "legacy.pt", std::string("\x80\x02\x8a\x0alz", 6));
  const auto legacy = torchvision_error(dir / "legacy.pt");
  EXPECT_NE(legacy.find("legacy-format torch.save file"), std::string::npos) << legacy;
  EXPECT_NE(legacy.find(dir / "legacy.pt"), std::string::npos) << legacy;

  testing::write_text(dir / "text.pt", "hello");
  EXPECT_NE(torchvision_error(dir / "text.pt").find(": not a torch.save file"), std::string::npos);

  // A zip that is not a torch.save archive.
  testing::write_text(dir / "zip.pt", std::string("PK\x05\x06", 4) + std::string(18, '\0'));
  const auto zip = torchvision_error(dir / "zip.pt");
  EXPECT_EQ(zip.rfind(dir / "zip.pt: cannot unpickle: ", 0), 0u) << zip;
  EXPECT_EQ(zip.find('\n'), std::string::npos) << zip;

  // A saved list instead of a dict.
  c10::List<at::Tensor> list;
  list.push_back(torch::zeros({2}));
  const auto list_bytes = torch::pickle_save(list);
  testing::write_text(dir / "list.pt", std::string(list_bytes.begin(), list_bytes.end()));
  const auto not_dict = torchvision_error(dir / "list.pt");
  EXPECT_NE(not_dict.find(", not a dict of name -> tensor"), std::string::npos) << not_dict;

  // A dict entry that is not a tensor.
  c10::Dict<std::string, int64_t> numbers;
  numbers.insert("features.0.weight", 3);
  const auto number_bytes = torch::pickle_save(numbers);
  testing::write_text(dir / "numbers.pt", std::string(number_bytes.begin(), number_bytes.end()));
  const auto number = torchvision_error(dir / "numbers.pt");
  EXPECT_NE(number.find("entry 'features.0.weight' is Int, not a tensor"), std::string::npos)
      << number;
}

// Files written by Python's torch.save (PyTorch 1.13, default zip format), base64:
//   entries = {"features.0.weight": torch.tensor([1.5, -2.0]), "features.0.bias":
//   torch.tensor([0.25])} torch.save(entries / collections.OrderedDict(entries) / {k:
//   nn.Parameter(v) ...}, buffer)
const char* const kPythonPlainDict =
    "UEsDBAAACAgAAAAAAAAAAAAAAAAAAAAAAAAQABIAYXJjaGl2ZS9kYXRhLnBrbEZCDgBaWlpaWlpaWlpaWlpaWoACfXEA"
    "KFgRAAAAZmVhdHVyZXMuMC53ZWlnaHRxAWN0b3JjaC5fdXRpbHMKX3JlYnVpbGRfdGVuc29yX3YyCnECKChYBwAAAHN0"
    "b3JhZ2VxA2N0b3JjaApGbG9hdFN0b3JhZ2UKcQRYAQAAADBxBVgDAAAAY3B1cQZLAnRxB1FLAEsChXEISwGFcQmJY2Nv"
    "bGxlY3Rpb25zCk9yZGVyZWREaWN0CnEKKVJxC3RxDFJxDVgPAAAAZmVhdHVyZXMuMC5iaWFzcQ5oAigoaANoBFgBAAAA"
    "MXEPaAZLAXRxEFFLAEsBhXERSwGFcRKJaAopUnETdHEUUnEVdS5QSwcIT1kKCPoAAAD6AAAAUEsDBAAACAgAAAAAAAAA"
    "AAAAAAAAAAAAAAAOAAoAYXJjaGl2ZS9kYXRhLzBGQgYAWlpaWlpaAADAPwAAAMBQSwcIOizfzAgAAAAIAAAAUEsDBAAA"
    "CAgAAAAAAAAAAAAAAAAAAAAAAAAOADwAYXJjaGl2ZS9kYXRhLzFGQjgAWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpa"
    "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWloAAIA+UEsHCPxaptsEAAAABAAAAFBLAwQAAAgIAAAAAAAAAAAAAAAA"
    "AAAAAAAADwA/AGFyY2hpdmUvdmVyc2lvbkZCOwBaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpa"
    "WlpaWlpaWlpaWlpaWlpaWlpaWjMKUEsHCNGeZ1UCAAAAAgAAAFBLAQIAAAAACAgAAAAAAABPWQoI+gAAAPoAAAAQAAAA"
    "AAAAAAAAAAAAAAAAAABhcmNoaXZlL2RhdGEucGtsUEsBAgAAAAAICAAAAAAAADos38wIAAAACAAAAA4AAAAAAAAAAAAA"
    "AAAASgEAAGFyY2hpdmUvZGF0YS8wUEsBAgAAAAAICAAAAAAAAPxaptsEAAAABAAAAA4AAAAAAAAAAAAAAAAAmAEAAGFy"
    "Y2hpdmUvZGF0YS8xUEsBAgAAAAAICAAAAAAAANGeZ1UCAAAAAgAAAA8AAAAAAAAAAAAAAAAAFAIAAGFyY2hpdmUvdmVy"
    "c2lvblBLBgYsAAAAAAAAAB4DLQAAAAAAAAAAAAQAAAAAAAAABAAAAAAAAADzAAAAAAAAAJICAAAAAAAAUEsGBwAAAACF"
    "AwAAAAAAAAEAAABQSwUGAAAAAAQABADzAAAAkgIAAAAA";
const char* const kPythonOrderedDict =
    "UEsDBAAACAgAAAAAAAAAAAAAAAAAAAAAAAAQABIAYXJjaGl2ZS9kYXRhLnBrbEZCDgBaWlpaWlpaWlpaWlpaWoACY2Nv"
    "bGxlY3Rpb25zCk9yZGVyZWREaWN0CnEAKVJxAShYEQAAAGZlYXR1cmVzLjAud2VpZ2h0cQJjdG9yY2guX3V0aWxzCl9y"
    "ZWJ1aWxkX3RlbnNvcl92MgpxAygoWAcAAABzdG9yYWdlcQRjdG9yY2gKRmxvYXRTdG9yYWdlCnEFWAEAAAAwcQZYAwAA"
    "AGNwdXEHSwJ0cQhRSwBLAoVxCUsBhXEKiWgAKVJxC3RxDFJxDVgPAAAAZmVhdHVyZXMuMC5iaWFzcQ5oAygoaARoBVgB"
    "AAAAMXEPaAdLAXRxEFFLAEsBhXERSwGFcRKJaAApUnETdHEUUnEVdS5QSwcIx6J4aP0AAAD9AAAAUEsDBAAACAgAAAAA"
    "AAAAAAAAAAAAAAAAAAAOAAcAYXJjaGl2ZS9kYXRhLzBGQgMAWlpaAADAPwAAAMBQSwcIOizfzAgAAAAIAAAAUEsDBAAA"
    "CAgAAAAAAAAAAAAAAAAAAAAAAAAOADwAYXJjaGl2ZS9kYXRhLzFGQjgAWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpa"
    "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWloAAIA+UEsHCPxaptsEAAAABAAAAFBLAwQAAAgIAAAAAAAAAAAAAAAA"
    "AAAAAAAADwA/AGFyY2hpdmUvdmVyc2lvbkZCOwBaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpa"
    "WlpaWlpaWlpaWlpaWlpaWlpaWjMKUEsHCNGeZ1UCAAAAAgAAAFBLAQIAAAAACAgAAAAAAADHonho/QAAAP0AAAAQAAAA"
    "AAAAAAAAAAAAAAAAAABhcmNoaXZlL2RhdGEucGtsUEsBAgAAAAAICAAAAAAAADos38wIAAAACAAAAA4AAAAAAAAAAAAA"
    "AAAATQEAAGFyY2hpdmUvZGF0YS8wUEsBAgAAAAAICAAAAAAAAPxaptsEAAAABAAAAA4AAAAAAAAAAAAAAAAAmAEAAGFy"
    "Y2hpdmUvZGF0YS8xUEsBAgAAAAAICAAAAAAAANGeZ1UCAAAAAgAAAA8AAAAAAAAAAAAAAAAAFAIAAGFyY2hpdmUvdmVy"
    "c2lvblBLBgYsAAAAAAAAAB4DLQAAAAAAAAAAAAQAAAAAAAAABAAAAAAAAADzAAAAAAAAAJICAAAAAAAAUEsGBwAAAACF"
    "AwAAAAAAAAEAAABQSwUGAAAAAAQABADzAAAAkgIAAAAA";
const char* const kPythonParameterDict =
    "UEsDBAAACAgAAAAAAAAAAAAAAAAAAAAAAAAQABIAYXJjaGl2ZS9kYXRhLnBrbEZCDgBaWlpaWlpaWlpaWlpaWoACfXEA"
    "KFgRAAAAZmVhdHVyZXMuMC53ZWlnaHRxAWN0b3JjaC5fdXRpbHMKX3JlYnVpbGRfcGFyYW1ldGVyCnECY3RvcmNoLl91"
    "dGlscwpfcmVidWlsZF90ZW5zb3JfdjIKcQMoKFgHAAAAc3RvcmFnZXEEY3RvcmNoCkZsb2F0U3RvcmFnZQpxBVgBAAAA"
    "MHEGWAMAAABjcHVxB0sCdHEIUUsASwKFcQlLAYVxColjY29sbGVjdGlvbnMKT3JkZXJlZERpY3QKcQspUnEMdHENUnEO"
    "iGgLKVJxD4dxEFJxEVgPAAAAZmVhdHVyZXMuMC5iaWFzcRJoAmgDKChoBGgFWAEAAAAxcRNoB0sBdHEUUUsASwGFcRVL"
    "AYVxFoloCylScRd0cRhScRmIaAspUnEah3EbUnEcdS5QSwcIx5wNrTkBAAA5AQAAUEsDBAAACAgAAAAAAAAAAAAAAAAA"
    "AAAAAAAOAAsAYXJjaGl2ZS9kYXRhLzBGQgcAWlpaWlpaWgAAwD8AAADAUEsHCDos38wIAAAACAAAAFBLAwQAAAgIAAAA"
    "AAAAAAAAAAAAAAAAAAAADgA8AGFyY2hpdmUvZGF0YS8xRkI4AFpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpa"
    "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaAACAPlBLBwj8WqbbBAAAAAQAAABQSwMEAAAICAAAAAAAAAAAAAAAAAAAAAAA"
    "AA8APwBhcmNoaXZlL3ZlcnNpb25GQjsAWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpa"
    "WlpaWlpaWlpaWlpaWlozClBLBwjRnmdVAgAAAAIAAABQSwECAAAAAAgIAAAAAAAAx5wNrTkBAAA5AQAAEAAAAAAAAAAA"
    "AAAAAAAAAAAAYXJjaGl2ZS9kYXRhLnBrbFBLAQIAAAAACAgAAAAAAAA6LN/MCAAAAAgAAAAOAAAAAAAAAAAAAAAAAIkB"
    "AABhcmNoaXZlL2RhdGEvMFBLAQIAAAAACAgAAAAAAAD8WqbbBAAAAAQAAAAOAAAAAAAAAAAAAAAAANgBAABhcmNoaXZl"
    "L2RhdGEvMVBLAQIAAAAACAgAAAAAAADRnmdVAgAAAAIAAAAPAAAAAAAAAAAAAAAAAFQCAABhcmNoaXZlL3ZlcnNpb25Q"
    "SwYGLAAAAAAAAAAeAy0AAAAAAAAAAAAEAAAAAAAAAAQAAAAAAAAA8wAAAAAAAADSAgAAAAAAAFBLBgcAAAAAxQMAAAAA"
    "AAABAAAAUEsFBgAAAAAEAAQA8wAAANICAAAAAA==";

std::string base64_decode(const std::string& text) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes;
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    const auto value = alphabet.find(c);
    if (value == std::string::npos) continue;  // '=' padding
    bits = (bits << 6) | uint32_t(value);
    if ((count += 6) >= 8) {
      count -= 8;
      bytes.push_back(char((bits >> count) & 0xff));
    }
  }
  return bytes;
}

TEST(Weights, ReadsDictsWrittenByPythonTorchSave) {
  testing::TempDir dir;
  const auto plain = base64_decode(kPythonPlainDict);
  // The format itself: a dict of the two tensors with their values.
  const auto value = torch::pickle_load(std::vector<char>(plain.begin(), plain.end()));
  ASSERT_TRUE(value.isGenericDict());
  const auto dict = value.toGenericDict();
  ASSERT_EQ(dict.size(), 2u);
  EXPECT_TRUE(torch::equal(dict.at("features.0.weight").toTensor(), torch::tensor({1.5f, -2.0f})));
  EXPECT_TRUE(torch::equal(dict.at("features.0.bias").toTensor(), torch::tensor({0.25f})));
  // Through the loader: parsed, mapped to block1_conv1, then rejected for its shape.
  testing::write_text(dir / "plain.pt", plain);
  EXPECT_EQ(torchvision_error(dir / "plain.pt"),
            dir / "plain.pt" +
                ": tensor features.0.weight (block1_conv1.weight) has shape [2], expected "
                "[64, 3, 3, 3] (out, in, height, width)");

  testing::write_text(dir / "ordered.pt", base64_decode(kPythonOrderedDict));
  const auto ordered = torchvision_error(dir / "ordered.pt");
  EXPECT_EQ(ordered.rfind(dir / "ordered.pt: cannot unpickle: ", 0), 0u) << ordered;
  EXPECT_NE(ordered.find("an OrderedDict, such as model.state_dict() saved directly"),
            std::string::npos)
      << ordered;
  testing::write_text(dir / "parameter.pt", base64_decode(kPythonParameterDict));
  const auto parameter = torchvision_error(dir / "parameter.pt");
#if TORCH_VERSION_MAJOR < 2
  EXPECT_NE(parameter.find("nn.Parameter values, which libtorch cannot read"), std::string::npos)
      << parameter;
#else
  // libtorch 2.x unpickles nn.Parameter; the loader then checks the tensors as usual.
  EXPECT_EQ(parameter, dir / "parameter.pt" +
                           ": tensor features.0.weight (block1_conv1.weight) has shape [2], "
                           "expected [64, 3, 3, 3] (out, in, height, width)");
#endif
}

TEST(Weights, WrongFormatForFileIsHinted) {
  testing::TempDir dir;
  testing::write_text(dir / "plain.pt", base64_decode(kPythonPlainDict));
  const auto keras = keras_error(dir / "plain.pt");
  EXPECT_NE(keras.find("not an HDF5 file"), std::string::npos) << keras;
  EXPECT_NE(keras.find("use weights_format torchvision"), std::string::npos) << keras;
  {
    const hid_t file = H5Fcreate((dir / "x.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    H5Fclose(file);
  }
  const auto torchvision = torchvision_error(dir / "x.h5");
  EXPECT_NE(torchvision.find("not a torch.save file"), std::string::npos) << torchvision;
  EXPECT_NE(torchvision.find("use weights_format keras_h5"), std::string::npos) << torchvision;
}

// ---------------------------------------------------------------------------------------------
// Checks against files written by Keras and PyTorch themselves; skipped unless their paths are
// given (scripts/check_keras_h5.py, scripts/export_torchvision_vgg16.py make them).

// Reads a little-endian float32, C-order .npy file.
torch::Tensor read_npy(const std::string& path) {
  const auto bytes = testing::read_text(path);
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) {
    throw std::runtime_error(path + ": not an .npy file");
  }
  const int major = bytes[6];
  const size_t header_len =
      major == 1 ? size_t(uint8_t(bytes[8])) | size_t(uint8_t(bytes[9])) << 8
                 : size_t(uint8_t(bytes[8])) | size_t(uint8_t(bytes[9])) << 8 |
                       size_t(uint8_t(bytes[10])) << 16 | size_t(uint8_t(bytes[11])) << 24;
  const size_t start = major == 1 ? 10 : 12;
  const auto header = bytes.substr(start, header_len);
  if (header.find("'descr': '<f4'") == std::string::npos ||
      header.find("'fortran_order': False") == std::string::npos) {
    throw std::runtime_error(path + ": expected little-endian float32 in C order: " + header);
  }
  const auto open = header.find('(', header.find("'shape'"));
  const auto close = header.find(')', open);
  std::vector<int64_t> shape;
  std::stringstream dims(header.substr(open + 1, close - open - 1));
  for (std::string dim; std::getline(dims, dim, ',');) {
    if (dim.find_first_not_of(' ') != std::string::npos) shape.push_back(std::stoll(dim));
  }
  auto tensor = torch::empty(shape, torch::kFloat32);
  const size_t data_bytes = size_t(tensor.numel()) * sizeof(float);
  if (bytes.size() != start + header_len + data_bytes) {
    throw std::runtime_error(path + ": size does not match shape");
  }
  std::memcpy(tensor.data_ptr<float>(), bytes.data() + start + header_len, data_bytes);
  return tensor;
}

// VGG16's feature extractor with `weights`: conv 3x3 (padding 1) + ReLU, 2x2 max pool per block.
torch::Tensor vgg16_features(const Vgg16Weights& weights, torch::Tensor x) {
  const auto& convs = vgg16_convs();
  for (size_t i = 0; i < convs.size(); ++i) {
    x = torch::relu(torch::conv2d(x, weights.at(convs[i].name + ".weight"),
                                  weights.at(convs[i].name + ".bias"), 1, 1));
    if (i + 1 == convs.size() || convs[i + 1].block != convs[i].block) x = torch::max_pool2d(x, 2);
  }
  return x;
}

// Whether `python` can import `modules` (a comma-separated list).
bool python_has(const std::string& python, const std::string& modules) {
  return std::filesystem::exists(python) &&
         testing::run_program({python, "-c", "import " + modules}).exit_code == 0;
}

// Real Keras files: written here by scripts/check_keras_h5.py (tf-keras' VGG16(weights=None),
// save_weights and model.save) with the project's .venv-keras, or given by hand:
// KERAS_VGG16_H5 (':'-separated files) and KERAS_VGG16_CHECK_DIR (kernels/*.npy, inputs.npy,
// outputs.npy; default /tmp/keras_vgg16_check).
TEST(WeightsKerasFile, MatchesKerasKernelsAndForward) {
  testing::TempDir made;
  std::string files, dir;
  if (const char* given = std::getenv("KERAS_VGG16_H5"); given && *given) {
    files = given;
    const char* dir_env = std::getenv("KERAS_VGG16_CHECK_DIR");
    dir = dir_env && *dir_env ? dir_env : "/tmp/keras_vgg16_check";
  } else {
    const std::string python = CIFAR_EXP_KERAS_PYTHON;
    if (!python_has(python, "tf_keras, h5py")) {
      GTEST_SKIP() << "no " << python << " with tf-keras (CIFAR_EXP_TEST_DEPS=1 "
                   << "scripts/install_deps.sh makes it), and KERAS_VGG16_H5 is not set";
    }
    dir = made / "check";
    const auto r = testing::run_program(
        {python, std::string(CIFAR_EXP_SOURCE_DIR) + "/scripts/check_keras_h5.py", "--out-dir", dir,
         "--weights-h5", made / "weights.h5", "--full-h5", made / "full.h5", "--seed", "7"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    files = (made / "weights.h5") + ":" + (made / "full.h5");
  }
  std::stringstream list(files);
  for (std::string path; std::getline(list, path, ':');) {
    SCOPED_TRACE(path);
    const auto weights = load_vgg16_keras_h5(path);
    double max_diff = 0;
    for (const auto& conv : vgg16_convs()) {
      const auto kernel = read_npy(dir + "/kernels/" + conv.name + "_kernel.npy");  // HWIO
      const auto bias = read_npy(dir + "/kernels/" + conv.name + "_bias.npy");
      const auto& weight = weights.at(conv.name + ".weight");
      ASSERT_EQ(kernel.sizes(), (std::vector<int64_t>{3, 3, conv.in, conv.out}));
      // weight[o][i][h][w] == kernel[h][w][i][o], spot-checked element by element ...
      for (int64_t o : {int64_t(0), conv.out - 1}) {
        for (int64_t i : {int64_t(0), conv.in - 1}) {
          EXPECT_EQ(weight[o][i][0][2].item<float>(), kernel[0][2][i][o].item<float>());
          EXPECT_EQ(weight[o][i][2][1].item<float>(), kernel[2][1][i][o].item<float>());
        }
      }
      // ... and whole.
      max_diff =
          std::max(max_diff, (weight - kernel.permute({3, 2, 0, 1})).abs().max().item<double>());
      max_diff =
          std::max(max_diff, (weights.at(conv.name + ".bias") - bias).abs().max().item<double>());
    }
    std::cout << "[          ] " << path << ": max |loaded - Keras| over all tensors = " << max_diff
              << "\n";
    EXPECT_EQ(max_diff, 0.0);

    const auto inputs = read_npy(dir + "/inputs.npy");    // N x 32 x 32 x 3
    const auto outputs = read_npy(dir + "/outputs.npy");  // N x 1 x 1 x 512
    const auto ours = vgg16_features(weights, inputs.permute({0, 3, 1, 2})).permute({0, 2, 3, 1});
    ASSERT_EQ(ours.sizes(), outputs.sizes());
    const double forward_diff = (ours - outputs).abs().max().item<double>();
    const double scale = outputs.abs().max().item<double>();
    std::cout << "[          ] forward: max |ours - Keras| = " << forward_diff
              << " (max |Keras output| = " << scale << ")\n";
    EXPECT_LE(forward_diff, 1e-4 * scale);
  }
}

// A real torchvision file: written here by scripts/export_torchvision_vgg16.py --no-pretrained
// (torchvision's vgg16() features, random initialisation) with /usr/bin/python3 (Debian's
// python3-torch and python3-torchvision), or given by hand as TORCHVISION_VGG16_PT. Loaded, written
// back with write_vgg16_torchvision, and that copy read by torch.load in Python: tensor for tensor
// equal to the original.
TEST(WeightsPythonFile, ReadsTorchvisionExportAndWritesWhatTorchLoads) {
  testing::TempDir made;
  const std::string python = CIFAR_EXP_TORCHVISION_PYTHON;
  const bool has_torchvision = python_has(python, "torch, torchvision");
  std::string path;
  if (const char* given = std::getenv("TORCHVISION_VGG16_PT"); given && *given) {
    path = given;
  } else if (has_torchvision) {
    path = made / "vgg16.pt";
    const auto r = testing::run_program(
        {python, std::string(CIFAR_EXP_SOURCE_DIR) + "/scripts/export_torchvision_vgg16.py", path,
         "--no-pretrained", "--seed", "7"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  } else {
    GTEST_SKIP() << "no " << python << " with torch and torchvision (CIFAR_EXP_TEST_DEPS=1 "
                 << "scripts/install_deps.sh installs python3-torchvision), and "
                 << "TORCHVISION_VGG16_PT is not set";
  }
  const auto weights = load_vgg16_torchvision(path);
  ASSERT_EQ(weights.size(), 26u);
  for (const auto& conv : vgg16_convs()) {
    EXPECT_EQ(weights.at(conv.name + ".weight").sizes(),
              (std::vector<int64_t>{conv.out, conv.in, 3, 3}));
    EXPECT_GT(weights.at(conv.name + ".weight").abs().sum().item<double>(), 0.0) << conv.name;
  }
  if (!has_torchvision) return;
  write_vgg16_torchvision(made / "copy.pt", weights);
  const auto r = testing::run_program({python, "-c", R"(
import sys, torch
a, b = torch.load(sys.argv[1]), torch.load(sys.argv[2])
assert sorted(a) == sorted(b), (sorted(a), sorted(b))
for k in a:
    assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
print(len(a), "tensors equal")
)",
                                       path, made / "copy.pt"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "26 tensors equal\n");
}

}  // namespace
}  // namespace cifar_exp
