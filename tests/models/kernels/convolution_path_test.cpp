// Tests for convolution_path.h: each path described for each reader, in the words earlier versions
// wrote (run logs, summary.json, bench JSON and feature cache keys keep them), and when a path
// applies.
#include "cifar_exp/models/kernels/convolution_path.h"

#include <gtest/gtest.h>

#include "cifar_exp/models/kernels/onednn_backbone.h"
#include "cifar_exp/models/kernels/winograd.h"

namespace cifar_exp {
namespace {

TEST(ConvolutionPath, DescribedForEachReader) {
  const BackboneConvolution onednn(ConvolutionPath::kOnednnWinograd, Convolution::kAuto, true);
  EXPECT_EQ(describe(onednn),
            "oneDNN Winograd + AVX2 matrix product (ours) for maps of 2x2 and less");
  EXPECT_EQ(describe(onednn, DescriptionFor::kCacheKey), ",conv=winograd,small_maps=matrix_avx2");
  EXPECT_EQ(describe(onednn, DescriptionFor::kBench),
            "onednn_winograd + matrix_avx2 for maps <= 2x2");
  EXPECT_EQ(describe(onednn, DescriptionFor::kRunLog),
            "oneDNN Winograd F(4x4, 3x3), maps of 2x2 and less as our AVX2 matrix product "
            "(model.convolution \"auto\")");
  const BackboneConvolution onednn_alone(ConvolutionPath::kOnednnWinograd, Convolution::kWinograd);
  EXPECT_EQ(describe(onednn_alone), "oneDNN Winograd");
  EXPECT_EQ(describe(onednn_alone, DescriptionFor::kCacheKey), ",conv=winograd");
  EXPECT_EQ(describe(onednn_alone, DescriptionFor::kBench), "onednn_winograd");
  EXPECT_EQ(describe(onednn_alone, DescriptionFor::kRunLog),
            "oneDNN Winograd F(4x4, 3x3) (model.convolution \"winograd\")");

  const BackboneConvolution ours(ConvolutionPath::kWinogradAvx2, Convolution::kWinogradAvx2);
  EXPECT_EQ(describe(ours), "AVX2 Winograd (ours)");
  EXPECT_EQ(describe(ours, DescriptionFor::kCacheKey), ",conv=winograd_avx2");
  EXPECT_EQ(describe(ours, DescriptionFor::kBench), "winograd_avx2");
  EXPECT_EQ(describe(ours, DescriptionFor::kRunLog),
            "our AVX2 Winograd F(4x4, 3x3) (model.convolution \"winograd_avx2\")");
  EXPECT_EQ(describe({ConvolutionPath::kWinogradAvx2, Convolution::kAuto}, DescriptionFor::kRunLog),
            "our AVX2 Winograd F(4x4, 3x3) (model.convolution \"auto\"; ours at AVX-512: " +
                our_winograd_unavailable_reason(CpuIsa::kAvx512) +
                "; oneDNN's: " + onednn_winograd_unavailable_reason() + ")");

  const BackboneConvolution ours512(ConvolutionPath::kWinogradAvx512);
  EXPECT_EQ(describe(ours512), "AVX-512 Winograd (ours)");
  EXPECT_EQ(describe(ours512, DescriptionFor::kCacheKey), ",conv=winograd_avx512");
  EXPECT_EQ(describe(ours512, DescriptionFor::kBench), "winograd_avx512");
  EXPECT_EQ(describe(ours512, DescriptionFor::kRunLog),
            "our AVX-512 Winograd F(4x4, 3x3) (model.convolution \"auto\")");

  const BackboneConvolution direct;
  EXPECT_EQ(describe(direct), "libtorch direct");
  EXPECT_EQ(describe(direct, DescriptionFor::kCacheKey), "");
  EXPECT_EQ(describe(direct, DescriptionFor::kBench), "direct");
  EXPECT_EQ(describe(direct, DescriptionFor::kRunLog),
            "libtorch's direct ones (oneDNN's Winograd: " + onednn_winograd_unavailable_reason() +
                "; ours: " + our_winograd_unavailable_reason(CpuIsa::kAvx2) + ")");
}

TEST(ConvolutionPath, AppliesOnlyToCpuFp32PassesWithoutGradients) {
  EXPECT_TRUE(backbone_path_applies(/*on_cpu=*/true, /*fp32=*/true, /*needs_grad=*/false));
  EXPECT_FALSE(backbone_path_applies(false, true, false));
  EXPECT_FALSE(backbone_path_applies(true, false, false));
  EXPECT_FALSE(backbone_path_applies(true, true, true));
}

TEST(ConvolutionPath, SmallMapsAreAtMostTwoByTwo) {
  EXPECT_TRUE(small_map(2, 2));
  EXPECT_TRUE(small_map(1, 2));
  EXPECT_FALSE(small_map(3, 2));
  EXPECT_FALSE(small_map(4, 4));
  // Pools after layers 1 and 2: 8 -> 4 -> 2, so layer 3 is the first on a small map.
  const std::vector<BackboneLayer> layers = {
      {{}, {}, false}, {{}, {}, true}, {{}, {}, true}, {{}, {}, false}};
  EXPECT_EQ(first_small_map(layers, 8, 8), 3u);
  EXPECT_EQ(first_small_map(layers, 2, 2), 0u);
  EXPECT_EQ(first_small_map(layers, 32, 32), layers.size());
}

}  // namespace
}  // namespace cifar_exp
