// Tests for onednn_backbone.h: oneDNN's pipeline against libtorch's convolution + ReLU + pool
// stack (direct kernels to 1e-5, Winograd to its own rounding), the per-layer algorithm choice,
// re-packing after in-place weight changes, one pipeline per input shape, and how the VGG16
// backbone and model.convolution select it. Pipeline tests skip where the build has no oneDNN;
// Winograd tests skip where the CPU has no Winograd kernels (no AVX-512).
#include "cifar_exp/onednn_backbone.h"

#include <gtest/gtest.h>

#include "cifar_exp/errors.h"
#include "cifar_exp/models.h"
#include "cifar_exp/winograd.h"

namespace cifar_exp {
namespace {

#define SKIP_WITHOUT_ONEDNN() \
  if (!onednn_backbone_available()) GTEST_SKIP() << "built without oneDNN"
#define SKIP_WITHOUT_WINOGRAD() \
  if (!onednn_winograd_available()) GTEST_SKIP() << onednn_winograd_unavailable_reason()

// libtorch's direct stack (generic kernels), no autograd.
torch::Tensor libtorch_forward(Vgg16BackboneImpl& backbone, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return backbone.forward(x);
}

double relative_error(const torch::Tensor& got, const torch::Tensor& want) {
  return (got - want).abs().max().item<double>() / want.abs().max().item<double>();
}

struct Stack {
  Stack() {
    torch::manual_seed(11);
    backbone = Vgg16Backbone(Kernels::kGeneric, Convolution::kDirect);
    backbone->freeze(0);
    x = torch::rand({3, 3, 32, 32}) * 2 - 1;
  }
  // x through libtorch's stack (want) and through `onednn` (got).
  std::pair<torch::Tensor, torch::Tensor> outputs(OnednnBackbone& onednn) {
    return {libtorch_forward(*backbone, x), onednn.forward(x, backbone->layers())};
  }
  Vgg16Backbone backbone{nullptr};
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
      onednn.forward(s.x.contiguous(torch::MemoryFormat::ChannelsLast), s.backbone->layers());
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
  const auto layers = s.backbone->layers();
  const auto before = onednn.forward(s.x, layers);
  {
    torch::NoGradGuard no_grad;
    s.backbone->convs[5]->weight.mul_(-0.5);  // in place, as load_weights and restores do
    s.backbone->convs[12]->bias.add_(0.25);
  }
  const auto after = onednn.forward(s.x, layers);
  EXPECT_FALSE(torch::allclose(after, before));
  EXPECT_LT(relative_error(after, libtorch_forward(*s.backbone, s.x)), 1e-4);
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
  const auto got = onednn.forward(x, s.backbone->layers());
  EXPECT_EQ(got.sizes(), torch::IntArrayRef({2, 512, 2, 2}));
  EXPECT_LT(relative_error(got, libtorch_forward(*s.backbone, x)), 1e-4);
}

TEST(OnednnBackbone, RejectsWhatItCannotRun) {
  SKIP_WITHOUT_ONEDNN();
  Stack s;
  OnednnBackbone onednn(false);
  EXPECT_THROW(onednn.forward(s.x.to(torch::kDouble), s.backbone->layers()), c10::Error);
  EXPECT_THROW(onednn.forward(torch::rand({1, 4, 32, 32}), s.backbone->layers()), c10::Error);
}

// The backbone takes the pipeline only for forward passes that need no gradient on CPU fp32.
TEST(OnednnBackbone, FrozenVgg16FeaturesUseWinogradUnderAuto) {
  SKIP_WITHOUT_WINOGRAD();
  torch::manual_seed(5);
  ModelConfig config;
  config.type = ModelType::kVgg16Transfer;
  config.weights = "random";
  auto model = build_model(config);
  auto& vgg = dynamic_cast<Vgg16TransferImpl&>(*model);
  ASSERT_TRUE(vgg.backbone->winograd());
  EXPECT_NE(vgg.feature_settings().find(",conv=winograd"), std::string::npos);
  // Block 5's 2 x 2 maps through our AVX2 matrix product where the CPU has AVX2 (oneDNN would
  // convolve them directly), keyed apart.
  EXPECT_EQ(vgg.backbone->small_maps_avx2(), winograd_avx2_available());
  EXPECT_EQ(vgg.feature_settings().find(",small_maps=matrix_avx2") != std::string::npos,
            winograd_avx2_available());
  EXPECT_EQ(vgg.backbone->first_small_map(32, 32), 10u);
  EXPECT_EQ(vgg.backbone->first_small_map(64, 64), 13u);
  const auto images = torch::rand({2, 3, 32, 32});
  EXPECT_TRUE(vgg.backbone->winograd_applies(images));
  EXPECT_FALSE(vgg.backbone->winograd_applies(images.to(torch::kDouble)));
  const auto features = vgg.features(images);
  // The same weights through libtorch's convolutions.
  config.convolution = Convolution::kDirect;
  torch::manual_seed(5);
  auto direct_model = build_model(config);
  auto& direct = dynamic_cast<Vgg16TransferImpl&>(*direct_model);
  EXPECT_FALSE(direct.backbone->winograd());
  EXPECT_EQ(direct.feature_settings().find("conv="), std::string::npos);
  const auto want = direct.features(images);
  EXPECT_GT(relative_error(features, want), 0.0);
  EXPECT_LT(relative_error(features, want), 1e-4);
  // A backbone with a trainable block needs gradients: libtorch's convolutions.
  config.convolution = Convolution::kAuto;
  config.trainable_blocks = 1;
  auto tuned = build_model(config);
  EXPECT_FALSE(dynamic_cast<Vgg16TransferImpl&>(*tuned).backbone->winograd_applies(images));
}

TEST(OnednnBackbone, WinogradWhereUnavailableIsAConfigError) {
  if (onednn_winograd_available()) GTEST_SKIP() << "this CPU and build have Winograd";
  try {
    Vgg16Backbone backbone(Kernels::kFused, Convolution::kWinograd);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.convolution: \"winograd\" is not available: "),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace cifar_exp
