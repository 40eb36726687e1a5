// The models on every device this machine has (tests/data/on_device.h): a frozen backbone's
// features against the CPU's, and the inference batch for large inputs.
#include <gtest/gtest.h>

#include "cifar_exp/models/feature_cache.h"
#include "cifar_exp/models/models.h"
#include "data/on_device.h"
#include "test_support.h"

namespace cifar_exp {
namespace {

class ModelsOnDevice : public testing::OnDeviceFixture {};

// max |a - b| / max |b|: a difference relative to the tensor's scale. VGG16 features of caffe-scale
// inputs (+-150) reach the hundreds, and cuDNN may convolve by Winograd or FFT, whose rounding
// differs from a direct convolution's by far more than 1e-4 in absolute terms there.
double max_relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  const double scale = b.abs().max().item<double>();
  const double difference = (a.to(b.device()) - b).abs().max().item<double>();
  return scale == 0 ? difference : difference / scale;
}

TEST_P(ModelsOnDevice, FeatureExtractionMatchesTheCpu) {
  ModelConfig config;
  config.type = ModelType::kVgg16Transfer;
  config.weights = "random";
  torch::manual_seed(6);
  Vgg16Transfer model(config, Preprocess::kCaffe);
  model->eval();
  auto images = testing::make_learnable_split(24, 5).images;
  auto expected = compute_features(*model, images, 10);
  model->to(device);
  auto got = compute_features(*model, images.to(device), 10);
  ASSERT_EQ(got.device(), device);
  ASSERT_EQ(got.sizes(), expected.sizes());
  // fp32 through 13 convolutions: 1e-4 of the largest feature is ~1000 ulps at that scale, room
  // for Winograd/FFT rounding, yet far below any real error (a wrong layer or weight moves
  // features by a sizeable fraction of their range).
  EXPECT_LE(max_relative_difference(got.cpu(), expected), 1e-4)
      << "max difference " << (got.cpu() - expected).abs().max().item<float>() << " of max "
      << expected.abs().max().item<float>();
  if (device.is_cpu()) EXPECT_TRUE(torch::equal(got, expected));
  // The cache keys of CPU and GPU features differ, so neither is read for the other; the key of
  // images on the GPU is the same whether hashed from them or from their host copy.
  if (device.is_cuda()) {
    const auto on_device = images.to(device);
    EXPECT_NE(feature_cache_key(*model, on_device), feature_cache_key(*model, images));
    EXPECT_EQ(feature_cache_key(*model, on_device, images), feature_cache_key(*model, on_device));
  }
}

TEST_P(ModelsOnDevice, InferenceBatchShrinksWithTheInputSize) {
  ModelConfig config;
  config.type = ModelType::kVgg16Transfer;
  config.weights = "random";
  config.input_size = 224;
  Vgg16Transfer large(config, Preprocess::kCaffe);
  EXPECT_EQ(large->inference_batch_size(1000), 20);  // 1000 / 49
  EXPECT_EQ(large->inference_batch_size(10), 1);
  config.input_size = 32;
  Vgg16Transfer small(config, Preprocess::kCaffe);
  EXPECT_EQ(small->inference_batch_size(1000), 1000);
}

INSTANTIATE_TEST_SUITE_P(Devices, ModelsOnDevice, testing::kDeviceNames, testing::device_test_name);

}  // namespace
}  // namespace cifar_exp
