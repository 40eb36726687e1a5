// The small CNN on our own convolution kernels (small_conv.h): which layer takes which kernels
// under each model.kernels, gradients as libtorch's, and the error where the CPU has none.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cifar_exp/config/config.h"
#include "cifar_exp/io/errors.h"
#include "cifar_exp/models/kernels/cpu_isa.h"
#include "cifar_exp/models/kernels/small_conv.h"
#include "cifar_exp/models/models.h"
#include "test_support.h"

namespace cifar_exp {
namespace {

// The largest error relative to the reference's largest magnitude.
double relative_error(const torch::Tensor& value, const torch::Tensor& ref) {
  return ((value.to(torch::kDouble) - ref).abs().max() / (ref.abs().max() + 1e-30)).item<double>();
}

TEST(SmallConv, AutoAndOwnTakeOursOnTheCpuInFp32Only) {
  if (small_conv_isa().empty()) GTEST_SKIP() << "no kernels of ours on this CPU";
  const std::string own = "own_" + small_conv_isa();
  const torch::Device cpu(torch::kCPU);
  EXPECT_EQ(SmallCnn(Kernels::kOwn)->convolution_kernels(cpu, true),
            (std::vector<std::string>{own, own, own}));
  EXPECT_EQ(SmallCnn(Kernels::kFused)->convolution_kernels(cpu, true),
            (std::vector<std::string>{"libtorch", "libtorch", "libtorch"}));
  EXPECT_EQ(SmallCnn(Kernels::kOwn)->convolution_kernels(cpu, /*fp32=*/false),
            (std::vector<std::string>{"libtorch", "libtorch", "libtorch"}));
  EXPECT_EQ(SmallCnn(Kernels::kAuto)->convolution_kernels(cpu, true),
            (std::vector<std::string>{own, own, own}));
  EXPECT_EQ(SmallCnn(Kernels::kAuto)->convolution_kernels(torch::Device("cuda"), true),
            (std::vector<std::string>{"libtorch", "libtorch", "libtorch"}));
  EXPECT_EQ(ExperimentConfig{}.model.kernels, Kernels::kAuto);
}

TEST(SmallConv, OwnKernelsTrainTheSmallCnnAsLibtorchDoes) {
  if (small_conv_isa().empty()) GTEST_SKIP() << "no kernels of ours on this CPU";
  torch::manual_seed(11);
  SmallCnn own(Kernels::kOwn);
  torch::manual_seed(11);
  SmallCnn generic(Kernels::kGeneric);
  const auto images = torch::rand({8, 3, 32, 32});
  const auto labels = torch::randint(0, 10, {8});
  for (auto* model : {&own, &generic}) {
    torch::nn::functional::cross_entropy((*model)->forward(images), labels).backward();
  }
  const auto a = own->named_parameters(), b = generic->named_parameters();
  for (const auto& p : a) {
    const auto& q = b[p.key()];
    EXPECT_LT(relative_error(p.value().grad(), q.grad().to(torch::kDouble)), 1e-5) << p.key();
  }
}

TEST(SmallConv, OwnWithoutKernelsIsAConfigError) {
  testing::ScopedEnv none(kMaxCpuIsaVariable, "baseline");
  try {
    SmallCnn model(Kernels::kOwn);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.kernels: \"own\""), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(kMaxCpuIsaVariable), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cifar_exp
