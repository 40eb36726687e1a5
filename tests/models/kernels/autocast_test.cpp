// Tests for autocast.h: AutocastScope turns bf16 autocast on for its scope only (nested scopes
// too), "fp32" leaves it off, and autocast_dtype() reports what is on.
#include "cifar_exp/models/kernels/autocast.h"

#include <gtest/gtest.h>

namespace cifar_exp {
namespace {

TEST(Autocast, Bf16ScopeIsScopedAndReported) {
  torch::manual_seed(0);
  torch::nn::Linear linear(4, 3);
  auto x = torch::randn({2, 4});
  EXPECT_FALSE(autocast_dtype(torch::kCPU).has_value());
  {
    AutocastScope autocast(torch::kCPU, Precision::kBf16);
    EXPECT_EQ(linear(x).scalar_type(), torch::kBFloat16);
    EXPECT_EQ(autocast_dtype(torch::kCPU), std::optional<at::ScalarType>(torch::kBFloat16));
    EXPECT_FALSE(autocast_dtype(torch::kCUDA).has_value());  // only the scope's device type
    {
      AutocastScope nested(torch::kCPU, Precision::kBf16);
      EXPECT_EQ(linear(x).scalar_type(), torch::kBFloat16);
    }
    EXPECT_EQ(linear(x).scalar_type(), torch::kBFloat16);  // the inner scope restored "on"
    EXPECT_TRUE(autocast_dtype(torch::kCPU).has_value());
  }
  EXPECT_EQ(linear(x).scalar_type(), torch::kFloat32);
  EXPECT_FALSE(autocast_dtype(torch::kCPU).has_value());
  {
    AutocastScope fp32(torch::kCPU, Precision::kFp32);
    EXPECT_EQ(linear(x).scalar_type(), torch::kFloat32);
    EXPECT_FALSE(autocast_dtype(torch::kCPU).has_value());
  }
}

}  // namespace
}  // namespace cifar_exp
