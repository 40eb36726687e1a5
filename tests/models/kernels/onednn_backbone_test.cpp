// Tests for onednn_backbone.h: oneDNN's pipeline against libtorch's convolution + ReLU + pool
// stack (direct kernels to 1e-5, Winograd to its own rounding), the per-layer algorithm choice,
// re-packing after in-place weight changes, one pipeline per input shape (how the VGG16 model and
// model.convolution select it: tests/models/backbone_convolution_test.cpp). Pipeline tests skip
// where the build has no oneDNN; Winograd tests skip where the CPU has no Winograd kernels (no
// AVX-512).
#include "cifar_exp/models/kernels/onednn_backbone.h"

#include <gtest/gtest.h>

#include "models/kernels/vgg16_stack.h"

namespace cifar_exp {
namespace {

#define SKIP_WITHOUT_ONEDNN() \
  if (!onednn_backbone_available()) GTEST_SKIP() << "built without oneDNN"
#define SKIP_WITHOUT_WINOGRAD() \
  if (!onednn_winograd_available()) GTEST_SKIP() << onednn_winograd_unavailable_reason()

// libtorch's direct stack, no autograd.
torch::Tensor libtorch_forward(const std::vector<BackboneLayer>& layers, const torch::Tensor& x) {
  return testing::libtorch_stack(layers, x);
}

double relative_error(const torch::Tensor& got, const torch::Tensor& want) {
  return (got - want).abs().max().item<double>() / want.abs().max().item<double>();
}

struct Stack {
  Stack() {
    torch::manual_seed(11);
    layers = testing::vgg16_stack();
    x = torch::rand({3, 3, 32, 32}) * 2 - 1;
  }
  // x through libtorch's stack (want) and through `onednn` (got).
  std::pair<torch::Tensor, torch::Tensor> outputs(OnednnBackbone& onednn) {
    return {libtorch_forward(layers, x), onednn.forward(x, layers)};
  }
  std::vector<BackboneLayer> layers;
  torch::Tensor x;
};

TEST(OnednnBackbone, DirectPipelineMatchesLibtorch) {
  SKIP_WITHOUT_ONEDNN();
  Stack s;
  OnednnBackbone onednn(/*winograd=*/false);
  const auto [want, got] = s.outputs(onednn);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_TRUE(got.is_contiguous());
  EXPECT_LT(relative_error(got, want), 1e-5);
  EXPECT_EQ(onednn.last_algorithms(), std::vector<std::string>(13, "direct"));
  // The same pipeline on a channels-last input (other strides: a pipeline of its own).
  const auto channels_last =
      onednn.forward(s.x.contiguous(torch::MemoryFormat::ChannelsLast), s.layers);
  EXPECT_LT(relative_error(channels_last, want), 1e-5);
}

TEST(OnednnBackbone, WinogradPipelineMatchesLibtorchToItsRounding) {
  SKIP_WITHOUT_WINOGRAD();
  Stack s;
  OnednnBackbone onednn(/*winograd=*/true);
  const auto [want, got] = s.outputs(onednn);
  ASSERT_EQ(got.sizes(), want.sizes());
  const double error = relative_error(got, want);
  EXPECT_GT(error, 0.0);  // another summation order: not bit-equal
  EXPECT_LT(error, 1e-4);
  // Winograd where it pays: blocks 1 (after its 3-channel layer) to 4; block 5's 2 x 2 maps
  // and the first layer convolve directly.
  std::vector<std::string> expected(13, "winograd");
  expected[0] = expected[10] = expected[11] = expected[12] = "direct";
  EXPECT_EQ(onednn.last_algorithms(), expected);
}

TEST(OnednnBackbone, RepacksWeightsChangedInPlaceAndKeepsOnePipelinePerShape) {
  SKIP_WITHOUT_ONEDNN();
  Stack s;
  OnednnBackbone onednn(onednn_winograd_available());
  const auto& layers = s.layers;
  const auto before = onednn.forward(s.x, layers);
  {
    torch::NoGradGuard no_grad;
    s.layers[5].weight.mul_(-0.5);  // in place, as load_weights and restores do
    s.layers[12].bias.add_(0.25);
  }
  const auto after = onednn.forward(s.x, layers);
  EXPECT_FALSE(torch::allclose(after, before));
  EXPECT_LT(relative_error(after, libtorch_forward(s.layers, s.x)), 1e-4);
  // Batches of other sizes (an epoch's last, evaluation's): each row as it was.
  const auto two = onednn.forward(s.x.slice(0, 0, 2).contiguous(), layers);
  const auto again = onednn.forward(s.x, layers);
  EXPECT_TRUE(torch::equal(again, after));
  EXPECT_LT(relative_error(two, after.slice(0, 0, 2)), 1e-5);
  // More shapes than it keeps pipelines for: older ones are rebuilt, with the same results.
  for (int64_t rows = 1; rows <= 3; ++rows) {
    const auto some = onednn.forward(s.x.slice(0, 0, rows).contiguous(), layers);
    EXPECT_LT(relative_error(some, after.slice(0, 0, rows)), 1e-5) << rows << " rows";
  }
  for (int64_t side : {64, 96}) {
    EXPECT_EQ(onednn.forward(torch::rand({1, 3, side, side}), layers).size(2), side / 32);
  }
  EXPECT_TRUE(torch::equal(onednn.forward(s.x, layers), after));
}

TEST(OnednnBackbone, LargerInputsPoolToLargerMaps) {
  SKIP_WITHOUT_ONEDNN();
  Stack s;
  const auto x = torch::rand({2, 3, 64, 64});
  OnednnBackbone onednn(onednn_winograd_available());
  const auto got = onednn.forward(x, s.layers);
  EXPECT_EQ(got.sizes(), torch::IntArrayRef({2, 512, 2, 2}));
  EXPECT_LT(relative_error(got, libtorch_forward(s.layers, x)), 1e-4);
}

TEST(OnednnBackbone, RejectsWhatItCannotRun) {
  SKIP_WITHOUT_ONEDNN();
  Stack s;
  OnednnBackbone onednn(false);
  EXPECT_THROW(onednn.forward(s.x.to(torch::kDouble), s.layers), c10::Error);
  EXPECT_THROW(onednn.forward(torch::rand({1, 4, 32, 32}), s.layers), c10::Error);
}

}  // namespace
}  // namespace cifar_exp
