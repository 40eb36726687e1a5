// The device layer on every device this machine has (on_device.h): augmentation against the
// CPU, out-of-memory errors recognised; device specs and the device report. (Training on each
// device: tests/training/device_training_test.cpp; models: tests/models/device_models_test.cpp.)
#include <gtest/gtest.h>

#include "cifar_exp/data/augmentation.h"
#include "cifar_exp/data/device.h"
#include "cifar_exp/io/errors.h"
#include "data/on_device.h"
#include "test_support.h"

namespace cifar_exp {
namespace {

class OnDevice : public testing::OnDeviceFixture {};

TEST_P(OnDevice, AugmentationMatchesTheCpuForTheSameDraws) {
  auto images = testing::make_learnable_split(16, 3).images.to(torch::kFloat32).div(255.0);
  for (const auto& entry : ChoiceNames<FillMode>::kNames) {
    const FillMode fill_mode = entry.first;
    AugmentationConfig config;
    config.enabled = true;
    config.rotation_range = 30;
    config.width_shift_range = 0.2;
    config.height_shift_range = 3;
    config.shear_range = 10;
    config.zoom_lower = 0.8;
    config.zoom_upper = 1.2;
    config.horizontal_flip = true;
    config.vertical_flip = true;
    config.fill_mode = fill_mode;
    config.cval = 128;
    config.random_crop = RandomCropConfig{4, 32};
    config.cutout = 8;
    Augmenter on_cpu(config, 11), on_device(config, 11);
    for (int round = 0; round < 3; ++round) {
      auto expected = on_cpu(images);
      auto got = on_device(images.to(device));
      ASSERT_EQ(got.device(), device);
      EXPECT_TRUE(torch::allclose(got.cpu(), expected, /*rtol=*/0, /*atol=*/1e-5))
          << entry.second << " round " << round << ": max difference "
          << (got.cpu() - expected).abs().max().item<float>();
    }
  }
}

TEST_P(OnDevice, OutOfMemoryIsRecognised) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "ASan aborts on absurd allocations instead of failing them";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  GTEST_SKIP() << "ASan aborts on absurd allocations instead of failing them";
#endif
#endif
  try {
    auto huge = torch::empty({int64_t(1) << 50}, torch::TensorOptions().device(device));
    FAIL() << "a 4 PiB allocation succeeded";
  } catch (const c10::Error& e) {
    EXPECT_TRUE(is_out_of_memory(e)) << e.what_without_backtrace();
  }
}

INSTANTIATE_TEST_SUITE_P(Devices, OnDevice, testing::kDeviceNames, testing::device_test_name);

TEST(Device, ResolvesSpecsWithAnExplicitIndex) {
  EXPECT_EQ(resolve_device("cpu"), torch::Device(torch::kCPU));
  if (torch::cuda::is_available()) {
    EXPECT_EQ(resolve_device("cuda"), torch::Device(torch::kCUDA, 0));
    EXPECT_EQ(resolve_device("auto"), torch::Device(torch::kCUDA, 0));
  } else {
    EXPECT_EQ(resolve_device("auto"), torch::Device(torch::kCPU));
    EXPECT_THROW(resolve_device("cuda"), ConfigError);
  }
  EXPECT_THROW(resolve_device("cuda:99"), ConfigError);
}

TEST(Device, ReportNamesLibrariesAndHardware) {
  const DeviceReport report = device_report();
  EXPECT_FALSE(report.libtorch.empty());
  EXPECT_FALSE(report.cpu.empty());
  EXPECT_EQ(int64_t(report.gpus.size()), int64_t(torch::cuda::device_count()));
  if (torch::cuda::is_available()) {
    EXPECT_FALSE(report.cuda_runtime.empty());
    EXPECT_FALSE(report.cuda_runtime_built.empty());
  }
  // A CUDA build knows both, loaded and built against; a CPU-only one neither.
  EXPECT_EQ(report.cuda_runtime.empty(), report.cuda_runtime_built.empty());
  if (report.cudnn_built.empty()) EXPECT_TRUE(report.cudnn.empty());
  EXPECT_EQ(device_name(torch::kCPU), report.cpu);
}

TEST(Device, VersionTextSaysWhichLibraryIsLoaded) {
  EXPECT_EQ(loaded_version_text("", "", "none"), "none");
  EXPECT_EQ(loaded_version_text("13.2", "13.2", "none"), "13.2");
  EXPECT_EQ(loaded_version_text("13.2", "13.0", "none"), "13.2 (libtorch built against 13.0)");
  EXPECT_EQ(loaded_version_text("", "9.1.0", "none"),
            "9.1.0 (built against; the loaded version is unknown)");
}

}  // namespace
}  // namespace cifar_exp
