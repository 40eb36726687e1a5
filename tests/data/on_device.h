// The fixture of the device suites (tests/data/device_test.cpp,
// tests/models/device_models_test.cpp, tests/training/device_training_test.cpp): each test runs
// on the CPU always, and where a GPU exists on the first GPU ("cuda") and the last one
// ("cuda:last", when there are two or more, so that code which silently uses GPU 0 fails).
// Devices that are missing are reported as skipped. Each suite derives a class of its own and
// instantiates it as Devices/<suite> with kDeviceNames and device_test_name.
#pragma once

#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cifar_exp/config/config.h"
#include "cifar_exp/data/device.h"

namespace cifar_exp::testing {

// "cpu", "cuda" or "cuda:last" -> a device, or nullopt when this machine lacks it.
inline std::optional<torch::Device> device_for(const std::string& name) {
  if (name == "cpu") return torch::Device(torch::kCPU);
  const int64_t count = int64_t(torch::cuda::device_count());
  if (name == "cuda" && count >= 1) return torch::Device(torch::kCUDA, 0);
  if (name == "cuda:last" && count >= 2) return torch::Device(torch::kCUDA, count - 1);
  return std::nullopt;
}

class OnDeviceFixture : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const auto found = device_for(GetParam());
    if (!found) GTEST_SKIP() << GetParam() << ": no such device on this machine";
    device = *found;
    // The run's defaults: fp32 arithmetic (no TF32), no autotuning, so CPU and GPU compare.
    configure_device(device, TrainingConfig{}, /*autotune=*/false);
  }
  // Tolerance for comparing against the CPU or against another run on the same device: exact
  // on the CPU, float rounding of a different kernel order on a GPU.
  double tolerance() const { return device.is_cpu() ? 0.0 : 1e-4; }

  torch::Device device = torch::kCPU;
};

// The devices each suite is instantiated with, and the test name's suffix for each ("cuda:last"
// as cuda_last).
inline const auto kDeviceNames = ::testing::Values("cpu", "cuda", "cuda:last");
inline std::string device_test_name(const ::testing::TestParamInfo<std::string>& info) {
  return info.param == "cuda:last" ? std::string("cuda_last") : info.param;
}

}  // namespace cifar_exp::testing
