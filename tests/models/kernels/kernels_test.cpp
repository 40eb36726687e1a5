// Tests for kernels.h: the fused max-pool + ReLU against libtorch's relu + max_pool2d, values and
// gradients, ties, NaN, odd sizes, the fallbacks (the models built on it, fused vs generic:
// tests/models/fused_kernels_test.cpp).
#include "cifar_exp/models/kernels/kernels.h"

#include <gtest/gtest.h>

#include <limits>

#include "cifar_exp/io/errors.h"

namespace cifar_exp {
namespace {

torch::Tensor channels_last(torch::Tensor t) {
  return t.contiguous(torch::MemoryFormat::ChannelsLast);
}

// Values on a coarse grid, so that windows hold ties (also between zero and positives), about
// half of them negative.
torch::Tensor input_with_ties(std::vector<int64_t> sizes, uint64_t seed) {
  torch::manual_seed(seed);
  return channels_last(torch::randint(-4, 5, sizes).to(torch::kFloat).mul(0.5f));
}

struct Result {
  torch::Tensor out, grad;
};

Result pool_relu(torch::Tensor x, Kernels kernels) {
  x = x.detach().clone().requires_grad_(true);
  auto out = max_pool2_relu(x, kernels);
  // A gradient that differs at every output position, so a misrouted one shows.
  auto weight = torch::arange(out.numel(), torch::kFloat).view(out.sizes()).add(1);
  (out * weight).sum().backward();
  return {out.detach(), x.grad()};
}

class FusedPoolRelu : public ::testing::TestWithParam<std::vector<int64_t>> {};

TEST_P(FusedPoolRelu, MatchesLibtorchValuesAndGradientsExactly) {
  const auto x = input_with_ties(GetParam(), 11);
  ASSERT_TRUE(fused_max_pool2_relu_applies(x));
  const auto fused = pool_relu(x, Kernels::kFused);
  const auto generic = pool_relu(x, Kernels::kGeneric);
  EXPECT_EQ(fused.out.sizes(), generic.out.sizes());
  EXPECT_TRUE(fused.out.is_contiguous(torch::MemoryFormat::ChannelsLast));
  // The maximum and the winner are chosen the same way: bit-identical, not merely close.
  EXPECT_TRUE(torch::equal(fused.out, generic.out));
  EXPECT_TRUE(torch::equal(fused.grad, generic.grad));
  EXPECT_GT(generic.grad.ne(0).sum().item<int64_t>(), 0);
}

// Even and odd sides (an odd side leaves a last row/column outside every window), one and many
// channels, the small CNN's and VGG16's shapes.
INSTANTIATE_TEST_SUITE_P(
    Shapes, FusedPoolRelu,
    ::testing::Values(std::vector<int64_t>{1, 1, 2, 2}, std::vector<int64_t>{2, 3, 5, 7},
                      std::vector<int64_t>{3, 5, 13, 13}, std::vector<int64_t>{4, 32, 30, 30},
                      std::vector<int64_t>{2, 64, 13, 13}, std::vector<int64_t>{2, 512, 2, 2}));

TEST(FusedPoolReluKernel, MatchesOnRandomNormalInputsWithin1e5) {
  torch::manual_seed(5);
  const auto x = channels_last(torch::randn({8, 17, 11, 10}));
  const auto fused = pool_relu(x, Kernels::kFused);
  const auto generic = pool_relu(x, Kernels::kGeneric);
  EXPECT_TRUE(torch::allclose(fused.out, generic.out, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(fused.grad, generic.grad, 1e-5, 1e-5));
}

TEST(FusedPoolReluKernel, NanWinsItsWindowAndTakesTheGradientAsInLibtorch) {
  auto x = channels_last(torch::rand({1, 2, 4, 4}));
  x.index_put_({0, 1, 2, 3}, std::numeric_limits<float>::quiet_NaN());
  const auto fused = pool_relu(x, Kernels::kFused);
  const auto generic = pool_relu(x, Kernels::kGeneric);
  EXPECT_TRUE(std::isnan(fused.out.index({0, 1, 1, 1}).item<float>()));
  EXPECT_TRUE(torch::allclose(fused.out, generic.out, 0, 0, /*equal_nan=*/true));
  EXPECT_TRUE(torch::allclose(fused.grad, generic.grad, 0, 0, /*equal_nan=*/true));
  // libtorch's ReLU backward only cuts x <= 0, so the NaN's position receives the gradient.
  EXPECT_NE(fused.grad.index({0, 1, 2, 3}).item<float>(), 0.0f);
}

TEST(FusedPoolReluKernel, AllNegativeWindowGivesZeroAndNoGradient) {
  const auto x = channels_last(-torch::rand({2, 3, 4, 6}) - 0.1);
  const auto fused = pool_relu(x, Kernels::kFused);
  EXPECT_EQ(fused.out.abs().max().item<float>(), 0.0f);
  EXPECT_EQ(fused.grad.abs().max().item<float>(), 0.0f);
}

TEST(FusedPoolReluKernel, InferenceWithoutAutogradGivesTheSameValues) {
  const auto x = input_with_ties({3, 16, 9, 8}, 2);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(
      torch::equal(max_pool2_relu(x, Kernels::kFused), torch::max_pool2d(torch::relu(x), 2)));
}

TEST(FusedPoolReluKernel, OtherLayoutsAndTypesTakeTheGenericPath) {
  const auto nchw = torch::randn({2, 4, 6, 6});
  const auto as_double = channels_last(torch::randn({2, 4, 6, 6}, torch::kDouble));
  const auto three_dims = torch::randn({4, 6, 6});
  EXPECT_FALSE(fused_max_pool2_relu_applies(nchw));
  EXPECT_FALSE(fused_max_pool2_relu_applies(as_double));
  EXPECT_FALSE(fused_max_pool2_relu_applies(three_dims));
  EXPECT_FALSE(fused_max_pool2_relu_applies(channels_last(torch::randn({2, 4, 1, 6}))));
  for (const auto& x : {nchw, as_double}) {
    EXPECT_TRUE(torch::equal(max_pool2_relu(x), torch::max_pool2d(torch::relu(x), 2)));
  }
}

}  // namespace
}  // namespace cifar_exp
