// Our small-CNN convolutions (small_conv.h) against libtorch's in double precision: values and
// all three gradients, on shapes that reach every edge of the kernels (partial pixel and
// filter-row blocks, channel blocks of 1, 2 and 4 vectors, odd maps whose last row and column
// no pool window covers), on every instruction set this CPU has; determinism; where they apply.
// The small CNN's use of them: tests/models/small_cnn_kernels_test.cpp.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "cifar_exp/models/kernels/cpu_isa.h"
#include "cifar_exp/models/kernels/small_conv.h"
#include "test_support.h"

namespace cifar_exp {
namespace {

// Caps our kernels' instruction set for a scope.
struct IsaCap : testing::ScopedEnv {
  explicit IsaCap(const std::string& isa) : ScopedEnv(kMaxCpuIsaVariable, isa) {}
};

std::vector<std::string> available_isas() {
  std::vector<std::string> isas;
  if (cpu_isa() >= CpuIsa::kAvx512) isas.push_back("avx512");
  if (cpu_isa() >= CpuIsa::kAvx2) isas.push_back("avx2");
  return isas;
}

struct Case {
  int64_t n, in, out, h, w;
  bool pool, input_grad;
};

torch::Tensor reference(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                        bool pool) {
  const auto y = torch::relu(torch::conv2d(x, w, b));
  return pool ? torch::max_pool2d(y, 2) : y;
}

// The largest error relative to the reference's largest magnitude.
double relative_error(const torch::Tensor& value, const torch::Tensor& ref) {
  return ((value.to(torch::kDouble) - ref).abs().max() / (ref.abs().max() + 1e-30)).item<double>();
}

void expect_matches_double(const Case& c) {
  SCOPED_TRACE(::testing::Message() << c.in << "->" << c.out << " " << c.h << "x" << c.w
                                    << (c.pool ? " pool" : "") << " isa " << small_conv_isa());
  torch::manual_seed(7);
  const auto x = torch::randn({c.n, c.in, c.h, c.w}).contiguous(torch::MemoryFormat::ChannelsLast);
  const auto w = torch::randn({c.out, c.in, 3, 3}) * 0.3;
  const auto b = torch::randn({c.out}) * 0.2;
  auto xd = x.to(torch::kDouble).requires_grad_(c.input_grad);
  auto wd = w.to(torch::kDouble).requires_grad_();
  auto bd = b.to(torch::kDouble).requires_grad_();
  const auto yd = reference(xd, wd, bd, c.pool);
  const auto grad = torch::randn_like(yd);
  yd.backward(grad);

  auto xf = x.clone().requires_grad_(c.input_grad);
  auto wf = w.clone().requires_grad_();
  auto bf = b.clone().requires_grad_();
  ASSERT_TRUE(small_conv_applies(xf, wf));
  const auto y = small_conv3x3_relu(xf, wf, bf, c.pool);
  ASSERT_EQ(y.sizes(), yd.sizes());
  EXPECT_TRUE(y.is_contiguous(torch::MemoryFormat::ChannelsLast));
  y.backward(grad.to(torch::kFloat));
  EXPECT_LT(relative_error(y, yd), 1e-5);
  EXPECT_LT(relative_error(wf.grad(), wd.grad()), 1e-5);
  EXPECT_LT(relative_error(bf.grad(), bd.grad()), 1e-5);
  if (c.input_grad) {
    EXPECT_LT(relative_error(xf.grad(), xd.grad()), 1e-5);
  } else {
    EXPECT_FALSE(xf.grad().defined());
  }
}

TEST(SmallConv, MatchesLibtorchInDoubleOnEveryEdgeAndIsa) {
  const auto isas = available_isas();
  if (isas.empty()) GTEST_SKIP() << "this CPU has none of our kernels' instruction sets";
  const std::vector<Case> cases = {
      {5, 3, 32, 32, 32, true, false},  // the small CNN's conv1, an odd batch
      {3, 32, 64, 15, 15, true, true},  // conv2: 13 x 13 output, the pool drops a row/column
      {4, 64, 64, 6, 6, false, true},   // conv3
      {2, 16, 16, 9, 20, true, true},   // one vector of channels, partial pixel blocks
      {1, 8, 48, 3, 3, false, true},    // a 1 x 1 output, 3 vectors (2 + 1 blocks)
      {3, 5, 16, 7, 30, false, false},  // filter rows not a multiple of the block
  };
  for (const auto& isa : isas) {
    IsaCap cap(isa);
    ASSERT_EQ(small_conv_isa(), isa);
    for (const auto& c : cases) {
      if (c.out % (isa == "avx512" ? 16 : 8) ||
          (c.input_grad && c.in % (isa == "avx512" ? 16 : 8))) {
        continue;
      }
      expect_matches_double(c);
    }
  }
}

TEST(SmallConv, DeterministicForAThreadCount) {
  if (small_conv_isa().empty()) GTEST_SKIP() << "no kernels of ours on this CPU";
  torch::manual_seed(3);
  const auto x = torch::randn({16, 32, 15, 15}).contiguous(torch::MemoryFormat::ChannelsLast);
  const auto w = torch::randn({64, 32, 3, 3}), b = torch::randn({64});
  auto run = [&] {
    auto xr = x.clone().requires_grad_(), wr = w.clone().requires_grad_();
    auto br = b.clone().requires_grad_();
    small_conv3x3_relu(xr, wr, br, true).sum().backward();
    return std::vector<torch::Tensor>{xr.grad(), wr.grad(), br.grad()};
  };
  const auto first = run(), second = run();
  for (size_t i = 0; i < first.size(); ++i) EXPECT_TRUE(torch::equal(first[i], second[i])) << i;
}

TEST(SmallConv, InferenceWithoutGradientMatchesTraining) {
  if (small_conv_isa().empty()) GTEST_SKIP() << "no kernels of ours on this CPU";
  torch::manual_seed(4);
  const auto x = torch::randn({4, 3, 32, 32}).contiguous(torch::MemoryFormat::ChannelsLast);
  const auto w = torch::randn({32, 3, 3, 3}).requires_grad_(), b = torch::randn({32});
  const auto trained = small_conv3x3_relu(x, w, b, true);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(small_conv3x3_relu(x, w, b, true), trained));
}

TEST(SmallConv, AppliesOnlyWhereTheKernelsCan) {
  if (small_conv_isa().empty()) GTEST_SKIP() << "no kernels of ours on this CPU";
  const auto x = torch::randn({2, 3, 32, 32});
  EXPECT_TRUE(small_conv_applies(x, torch::randn({32, 3, 3, 3})));
  EXPECT_FALSE(small_conv_applies(x, torch::randn({30, 3, 3, 3})));  // 30 channels
  EXPECT_FALSE(small_conv_applies(x, torch::randn({32, 3, 5, 5})));  // 5 x 5 filters
  EXPECT_FALSE(
      small_conv_applies(x.to(torch::kDouble), torch::randn({32, 3, 3, 3}, torch::kDouble)));
  EXPECT_FALSE(small_conv_applies(x.requires_grad_(), torch::randn({32, 3, 3, 3})));  // 3 in
  IsaCap none("baseline");
  EXPECT_EQ(small_conv_isa(), "");
  EXPECT_FALSE(small_conv_applies(torch::randn({2, 3, 32, 32}), torch::randn({32, 3, 3, 3})));
}

}  // namespace
}  // namespace cifar_exp
