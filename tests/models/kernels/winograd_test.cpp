// Tests for winograd.h: our Winograd F(4x4, 3x3) layer, at AVX2 and at AVX-512 (each test once
// per instruction set, skipped where the CPU or CIFAR_EXP_MAX_CPU_ISA rules it out), against
// libtorch's convolution + ReLU (+ pool) on shapes that exercise every edge (maps not a multiple
// of 4, odd maps with a pool, channel counts not a multiple of 8 or 16, an odd number of 16-channel
// panels, one image, blocks that split unevenly across threads, maps of 2 x 2 and less as one
// matrix product), NaN propagation, the whole VGG16 stack, re-transforming filters changed in
// place; then the two instruction sets against each other, auto's choice and the
// CIFAR_EXP_MAX_CPU_ISA switch (through the VGG16 model:
// tests/models/backbone_convolution_test.cpp).
#include "cifar_exp/models/kernels/winograd.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/models/kernels/convolution_path.h"
#include "cifar_exp/models/kernels/onednn_backbone.h"
#include "models/kernels/vgg16_stack.h"

namespace cifar_exp {
namespace {

// Each test once per instruction set of our kernels.
class OurWinograd : public ::testing::TestWithParam<CpuIsa> {
 protected:
  void SetUp() override {
    if (!our_winograd_available(GetParam())) {
      GTEST_SKIP() << our_winograd_unavailable_reason(GetParam());
    }
  }
};

std::string isa_name(const ::testing::TestParamInfo<CpuIsa>& info) {
  return info.param == CpuIsa::kAvx512 ? "avx512" : "avx2";
}

INSTANTIATE_TEST_SUITE_P(Isa, OurWinograd, ::testing::Values(CpuIsa::kAvx2, CpuIsa::kAvx512),
                         isa_name);

// Max-normalised: the largest difference over the largest value.
double relative_error(const torch::Tensor& got, const torch::Tensor& want) {
  return (got - want).abs().max().item<double>() / want.abs().max().item<double>();
}

torch::Tensor direct_layer(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                           bool pool) {
  // In double: the reference's own rounding stays far below the tolerance.
  auto y = torch::relu(
      torch::conv2d(x.to(torch::kDouble), w.to(torch::kDouble), b.to(torch::kDouble), 1, 1));
  return (pool ? torch::max_pool2d(y, 2) : y).to(torch::kFloat);
}

struct LayerCase {
  int64_t n, in, out, height, width;
  bool pool;
};

TEST_P(OurWinograd, LayerMatchesDirectConvolutionOnEveryEdge) {
  torch::manual_seed(3);
  const std::vector<LayerCase> cases = {
      {2, 64, 64, 32, 32, true},   // VGG16 block 1's end
      {3, 128, 256, 8, 8, false},  // several blocks
      {1, 3, 64, 32, 32, false},   // the 3-channel first layer: a masked channel tail
      {2, 13, 21, 7, 9, false},    // maps and channel counts of no round size
      {2, 20, 24, 10, 6, true},    // pooled map not a multiple of 4
      {1, 8, 16, 7, 7, true},      // odd map pooled: the last row and column drop
      {5, 512, 512, 4, 4, false},  // one tile per image, deep: several passes over channels
      {1, 9, 8, 1, 1, false},      // small maps: one matrix product
      {3, 32, 21, 2, 2, true},     // ... block 5's shape, pooled, outputs padded to 16
      {2, 16, 16, 2, 1, false},   {67, 16, 32, 4, 4, false},  // 67 tiles: blocks split unevenly
      {3, 40, 40, 5, 5, false},  // 3 panels: AVX-512's two-panel blocks end with one
      {2, 300, 48, 4, 4, true},  // depth passes of 128 and 256 channels, then a partial one
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.n << "x" << c.in << "x" << c.height << "x" << c.width
                                      << " -> " << c.out << (c.pool ? " pooled" : ""));
    const auto x = torch::randn({c.n, c.in, c.height, c.width});
    const auto w = torch::randn({c.out, c.in, 3, 3}) / std::sqrt(9.0 * c.in);
    const auto b = torch::randn({c.out}) * 0.1;
    const auto want = direct_layer(x, w, b, c.pool);
    const auto got = winograd_conv3x3_relu(x, w, b, c.pool, GetParam());
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_TRUE(got.is_contiguous(torch::MemoryFormat::ChannelsLast));
    const double error = relative_error(got, want);
    EXPECT_GT(error, 0.0);  // really another summation: not a copy of the reference
    // fp32 rounding, amplified by the transforms' +-2, 4, 5 and 8 (most at 512 channels: 1.7e-5).
    EXPECT_LT(error, 5e-5);
  }
}

// A NaN input reaches every output of the tiles it lies in (the transforms mix a whole tile),
// a superset of the direct convolution's 3 x 3 neighbourhood; it never vanishes.
TEST_P(OurWinograd, NaNInputsStayNaN) {
  auto x = torch::rand({1, 8, 8, 8});
  x[0][3][5][6] = std::numeric_limits<float>::quiet_NaN();
  const auto w = torch::rand({8, 8, 3, 3}), b = torch::zeros({8});
  for (bool pool : {false, true}) {
    const auto got = winograd_conv3x3_relu(x, w, b, pool, GetParam());
    const auto want = direct_layer(x, w, b, pool);
    EXPECT_GT(want.isnan().sum().item<int64_t>(), 0);
    EXPECT_EQ((want.isnan() & got.isnan().logical_not()).sum().item<int64_t>(), 0)
        << "pool " << pool;
    // Elsewhere the values agree.
    const auto finite = want.isnan().logical_not() & got.isnan().logical_not();
    EXPECT_LT(relative_error(got.masked_select(finite), want.masked_select(finite)), 1e-5);
  }
}

// VGG16's stack: libtorch's direct one against ours.
struct Stack {
  Stack() {
    torch::manual_seed(11);
    layers = testing::vgg16_stack();
    x = torch::rand({4, 3, 32, 32}) * 255 - 120;  // caffe-preprocessed range
  }
  torch::Tensor direct(const torch::Tensor& input) {
    return testing::libtorch_stack(layers, input);
  }
  std::vector<BackboneLayer> layers;
  torch::Tensor x;
};

TEST_P(OurWinograd, BackboneMatchesDirectWithinTheIssuesBound) {
  Stack s;
  WinogradBackbone winograd(GetParam());
  const std::string name = our_winograd_name(GetParam());
  EXPECT_EQ(winograd.name(), name);
  const auto want = s.direct(s.x);
  const auto got = winograd.forward(s.x, s.layers);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_TRUE(got.is_contiguous());
  const double error = relative_error(got, want);
  EXPECT_GT(error, 0.0);
  EXPECT_LT(error, 1e-4);
  // Winograd in blocks 1 (after the 3-channel layer) to 4; block 5's 2 x 2 maps as matrices.
  std::vector<std::string> expected(13, name);
  expected[0] = "direct";
  expected[10] = expected[11] = expected[12] =
      GetParam() == CpuIsa::kAvx512 ? "matrix_avx512" : "matrix_avx2";
  EXPECT_EQ(winograd.last_algorithms(), expected);
  // 64 x 64 inputs: block 5 at 4 x 4 takes Winograd too.
  const auto large = torch::rand({1, 3, 64, 64}) * 255 - 120;
  const auto got_large = winograd.forward(large, s.layers);
  EXPECT_EQ(got_large.sizes(), torch::IntArrayRef({1, 512, 2, 2}));
  EXPECT_LT(relative_error(got_large, s.direct(large)), 1e-4);
  EXPECT_EQ(winograd.last_algorithms()[12], name);
}

TEST_P(OurWinograd, TransformsFiltersAgainAfterAnInPlaceChange) {
  Stack s;
  WinogradBackbone winograd(GetParam());
  const auto& layers = s.layers;
  const auto before = winograd.forward(s.x, layers);
  EXPECT_TRUE(torch::equal(winograd.forward(s.x, layers), before));  // deterministic
  {
    torch::NoGradGuard no_grad;
    s.layers[5].weight.mul_(-0.5);  // in place, as load_weights and restores do
    s.layers[12].bias.add_(0.25);
  }
  const auto after = winograd.forward(s.x, layers);
  EXPECT_FALSE(torch::allclose(after, before));
  EXPECT_LT(relative_error(after, s.direct(s.x)), 1e-4);
  // One image gives that image's row of the batch.
  EXPECT_LT(relative_error(winograd.forward(s.x.slice(0, 1, 2), layers), after.slice(0, 1, 2)),
            1e-6);
}

// The two instruction sets do the same operations per channel: equal results while a product
// sums over at most 128 input channels (one pass at either width), rounding-level apart beyond
// (AVX-512 sums in passes of 128 channels, AVX2 of 256).
TEST(OurWinogradIsas, AgreeWithEachOther) {
  for (CpuIsa isa : {CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (!our_winograd_available(isa)) GTEST_SKIP() << our_winograd_unavailable_reason(isa);
  }
  torch::manual_seed(4);
  for (const int64_t in : {64, 128, 512}) {
    SCOPED_TRACE(in);
    const auto x = torch::randn({2, in, 8, 8});
    const auto w = torch::randn({48, in, 3, 3}) / std::sqrt(9.0 * in), b = torch::randn({48});
    const auto avx2 = winograd_conv3x3_relu(x, w, b, true, CpuIsa::kAvx2);
    const auto avx512 = winograd_conv3x3_relu(x, w, b, true, CpuIsa::kAvx512);
    if (in <= 128) {
      EXPECT_TRUE(torch::equal(avx2, avx512));
    } else {
      EXPECT_LT(relative_error(avx512, avx2), 1e-6);
    }
  }
}

// auto: ours at AVX-512 where available, else oneDNN's where it has kernels, else ours at AVX2,
// else direct (the order bench --layers measured).
TEST(OurWinogradIsas, AutoPicksTheFastestAvailable) {
  const ConvolutionPath want =
      our_winograd_available(CpuIsa::kAvx512) ? ConvolutionPath::kWinogradAvx512
      : onednn_winograd_available()           ? ConvolutionPath::kOnednnWinograd
      : our_winograd_available(CpuIsa::kAvx2) ? ConvolutionPath::kWinogradAvx2
                                              : ConvolutionPath::kDirect;
  EXPECT_EQ(resolve_convolution(Convolution::kAuto), want);
  EXPECT_EQ(resolve_convolution(Convolution::kDirect), ConvolutionPath::kDirect);
  EXPECT_EQ(to_string(ConvolutionPath::kWinogradAvx512), "winograd_avx512");
  EXPECT_EQ(to_string(ConvolutionPath::kWinogradAvx2), "winograd_avx2");
  EXPECT_EQ(to_string(ConvolutionPath::kOnednnWinograd), "onednn_winograd");
  EXPECT_EQ(to_string(ConvolutionPath::kDirect), "direct");
}

TEST(OurWinogradIsas, MaxCpuIsaSwitch) {
  const char* saved = std::getenv(kMaxCpuIsaVariable);
  unsetenv(kMaxCpuIsaVariable);
  const bool cpu = our_winograd_available(CpuIsa::kAvx2);
  const bool cpu512 = our_winograd_available(CpuIsa::kAvx512);
  setenv(kMaxCpuIsaVariable, "baseline", 1);
  EXPECT_FALSE(our_winograd_available(CpuIsa::kAvx2));
  EXPECT_FALSE(our_winograd_available(CpuIsa::kAvx512));
  if (cpu) {
    EXPECT_EQ(our_winograd_unavailable_reason(CpuIsa::kAvx2),
              "CIFAR_EXP_MAX_CPU_ISA is \"baseline\"");
    try {
      WinogradBackbone refused(CpuIsa::kAvx2);
      ADD_FAILURE() << "constructed with the switch at baseline";
    } catch (const ConfigError& e) {
      EXPECT_STREQ(e.what(),
                   "winograd_avx2 is not available: CIFAR_EXP_MAX_CPU_ISA is \"baseline\"");
    }
  }
  // model.convolution: ours refused with the reason, auto falls back past it.
  try {
    resolve_convolution(Convolution::kWinogradAvx2);
    ADD_FAILURE() << "winograd_avx2 resolved with the switch at baseline";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.convolution: \"winograd_avx2\" is not available: "),
              std::string::npos)
        << e.what();
  }
  EXPECT_NE(resolve_convolution(Convolution::kAuto), ConvolutionPath::kWinogradAvx2);
  EXPECT_NE(resolve_convolution(Convolution::kAuto), ConvolutionPath::kWinogradAvx512);
  // Capped at AVX2: ours at AVX-512 refused with the reason, at AVX2 as the CPU allows.
  setenv(kMaxCpuIsaVariable, "avx2", 1);
  EXPECT_EQ(our_winograd_available(CpuIsa::kAvx2), cpu);
  EXPECT_FALSE(our_winograd_available(CpuIsa::kAvx512));
  if (cpu512) {
    EXPECT_EQ(our_winograd_unavailable_reason(CpuIsa::kAvx512),
              "CIFAR_EXP_MAX_CPU_ISA is \"avx2\"");
    try {
      resolve_convolution(Convolution::kWinogradAvx512);
      ADD_FAILURE() << "winograd_avx512 resolved with the switch at avx2";
    } catch (const ConfigError& e) {
      EXPECT_STREQ(e.what(),
                   "model.convolution: \"winograd_avx512\" is not available: "
                   "CIFAR_EXP_MAX_CPU_ISA is \"avx2\"; use \"auto\" or \"direct\"");
    }
  }
  EXPECT_NE(resolve_convolution(Convolution::kAuto), ConvolutionPath::kWinogradAvx512);
  setenv(kMaxCpuIsaVariable, "sse9", 1);
  try {
    our_winograd_available(CpuIsa::kAvx2);
    ADD_FAILURE() << "accepted sse9";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "CIFAR_EXP_MAX_CPU_ISA: \"sse9\" is not one of avx512, avx2, baseline");
  }
  if (saved) {
    setenv(kMaxCpuIsaVariable, saved, 1);
  } else {
    unsetenv(kMaxCpuIsaVariable);
  }
}

}  // namespace
}  // namespace cifar_exp
