// Tests for kernels.h: the fused max-pool + ReLU against libtorch's relu + max_pool2d, values and
// gradients, ties, NaN, odd sizes, the fallbacks (the models built on it, fused vs generic:
// tests/models/fused_kernels_test.cpp); our dropout's law, seeding, gradient and fallbacks.
#include "cifar_exp/models/kernels/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

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

// Our dropout's mask on n ones: the kept values, each 1 / (1 - p), or 0.
torch::Tensor dropout_of_ones(int64_t n, double p) {
  return dropout(torch::ones({n}), p, /*training=*/true, Kernels::kAuto);
}

TEST(Dropout, KeepsOneMinusPOfTheValuesScaledByItsInverse) {
  torch::manual_seed(1);
  for (const double p : {0.5, 0.3, 0.9}) {
    const int64_t n = 400001;  // odd: the last 64-bit draw decides one value
    const auto out = dropout_of_ones(n, p);
    const auto kept = out.ne(0);
    EXPECT_TRUE(out.masked_select(kept).eq(float(1.0 / (1.0 - p))).all().item<bool>()) << p;
    // The share kept within 5 standard deviations of 1 - p (binomial).
    const double share = kept.to(torch::kDouble).mean().item<double>();
    EXPECT_NEAR(share, 1.0 - p, 5.0 * std::sqrt(p * (1.0 - p) / double(n))) << p;
    // The two values one 64-bit draw decides are independent: both kept (1 - p)^2 of the time.
    const auto pairs = kept.narrow(0, 0, n - 1).view({-1, 2});
    const double both = pairs.all(1).to(torch::kDouble).mean().item<double>();
    const double q = (1.0 - p) * (1.0 - p);
    EXPECT_NEAR(both, q, 5.0 * std::sqrt(q * (1.0 - q) / double(n / 2))) << p;
  }
}

TEST(Dropout, TheMaskComesFromTheSeedWhateverTheThreadCount) {
  const int threads = at::get_num_threads();
  torch::manual_seed(7);
  const auto first = dropout_of_ones(100000, 0.5);
  const auto second = dropout_of_ones(100000, 0.5);
  EXPECT_FALSE(torch::equal(first, second));  // each call draws a new seed
  at::set_num_threads(1);
  torch::manual_seed(7);
  EXPECT_TRUE(torch::equal(dropout_of_ones(100000, 0.5), first));
  at::set_num_threads(threads);
  // From a saved generator state (what a checkpoint keeps), the same mask again.
  auto generator = at::detail::getDefaultCPUGenerator();
  const auto state = generator.get_state();
  const auto third = dropout_of_ones(1000, 0.5);
  generator.set_state(state);
  EXPECT_TRUE(torch::equal(dropout_of_ones(1000, 0.5), third));
}

TEST(Dropout, GradientIsTheMaskTimesTheOutputsGradient) {
  torch::manual_seed(3);
  const auto x = torch::randn({64, 256}).requires_grad_(true);
  const auto out = dropout(x, 0.5, /*training=*/true, Kernels::kOwn);
  const auto weight = torch::randn({64, 256});
  (out * weight).sum().backward();
  const auto mask = out.detach().ne(0).to(torch::kFloat) * 2.0f;
  EXPECT_TRUE(torch::allclose(out.detach(), x.detach() * mask));
  EXPECT_TRUE(torch::equal(x.grad(), weight * mask));
}

TEST(Dropout, OutsideTrainingOrAtZeroItIsTheInputAndGenericIsLibtorchs) {
  const auto x = torch::randn({8, 16});
  EXPECT_TRUE(dropout(x, 0.5, /*training=*/false, Kernels::kAuto).is_same(x));
  EXPECT_TRUE(dropout(x, 0.0, /*training=*/true, Kernels::kAuto).is_same(x));
  EXPECT_TRUE(own_dropout_applies(x, Kernels::kAuto));
  EXPECT_TRUE(own_dropout_applies(x, Kernels::kFused));
  EXPECT_FALSE(own_dropout_applies(x, Kernels::kGeneric));
  EXPECT_FALSE(own_dropout_applies(x.to(torch::kBFloat16), Kernels::kAuto));
  // The generic path draws libtorch's mask: the same as torch::dropout from the same seed.
  torch::manual_seed(11);
  const auto generic = dropout(x, 0.5, /*training=*/true, Kernels::kGeneric);
  torch::manual_seed(11);
  EXPECT_TRUE(torch::equal(generic, torch::dropout(x, 0.5, true)));
  torch::manual_seed(11);
  EXPECT_FALSE(torch::equal(dropout(x, 0.5, /*training=*/true, Kernels::kAuto), generic));
}

}  // namespace
}  // namespace cifar_exp
