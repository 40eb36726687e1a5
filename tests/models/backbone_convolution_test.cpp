// How the VGG16 model takes its backbone's convolution path (model.convolution,
// convolution_path.h): oneDNN's Winograd, ours at AVX2 and AVX-512, the feature cache key, direct
// passes where gradients are needed, the error where a path is unavailable, and the run log and
// provenance naming the path. The paths themselves: tests/models/kernels/.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/models/kernels/onednn_backbone.h"
#include "cifar_exp/models/kernels/winograd.h"
#include "cifar_exp/models/models.h"
#include "test_support.h"

namespace cifar_exp {
namespace {

#define SKIP_WITHOUT_WINOGRAD() \
  if (!onednn_winograd_available()) GTEST_SKIP() << onednn_winograd_unavailable_reason()
#define SKIP_WITHOUT_AVX2()                   \
  if (!our_winograd_available(CpuIsa::kAvx2)) \
  GTEST_SKIP() << our_winograd_unavailable_reason(CpuIsa::kAvx2)

double relative_error(const torch::Tensor& got, const torch::Tensor& want) {
  return (got - want).abs().max().item<double>() / want.abs().max().item<double>();
}

// The backbone takes the pipeline only for forward passes that need no gradient on CPU fp32.
TEST(OnednnBackbone, FrozenVgg16FeaturesUseItsWinograd) {
  SKIP_WITHOUT_WINOGRAD();
  torch::manual_seed(5);
  ModelConfig config;
  config.type = ModelType::kVgg16Transfer;
  config.weights = "random";
  config.convolution = Convolution::kWinograd;
  auto model = build_model(config);
  auto& vgg = dynamic_cast<Vgg16TransferImpl&>(*model);
  ASSERT_TRUE(vgg.backbone->winograd());
  EXPECT_NE(vgg.feature_settings().find(",conv=winograd"), std::string::npos);
  // Block 5's 2 x 2 maps through our AVX2 matrix product where the CPU has AVX2 (oneDNN would
  // convolve them directly), keyed apart.
  EXPECT_EQ(vgg.backbone->small_maps_avx2(), our_winograd_available(CpuIsa::kAvx2));
  EXPECT_EQ(vgg.feature_settings().find(",small_maps=matrix_avx2") != std::string::npos,
            our_winograd_available(CpuIsa::kAvx2));
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
  config.convolution = Convolution::kWinograd;
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

// model.convolution "winograd_avx2" and "winograd_avx512" through the model: the feature cache
// key, the path the frozen features take, and direct passes where gradients are needed.
TEST(OurWinograd, FrozenVgg16FeaturesTakeItAndKeyTheCache) {
  SKIP_WITHOUT_AVX2();
  struct Case {
    CpuIsa isa;
    Convolution convolution;
    ConvolutionPath path;
    std::string provenance, key;
  };
  for (const Case& c :
       {Case{CpuIsa::kAvx2, Convolution::kWinogradAvx2, ConvolutionPath::kWinogradAvx2,
             "AVX2 Winograd (ours)", ",conv=winograd_avx2"},
        Case{CpuIsa::kAvx512, Convolution::kWinogradAvx512, ConvolutionPath::kWinogradAvx512,
             "AVX-512 Winograd (ours)", ",conv=winograd_avx512"}}) {
    if (!our_winograd_available(c.isa)) continue;
    SCOPED_TRACE(c.key);
    ModelConfig config;
    config.type = ModelType::kVgg16Transfer;
    config.weights = "random";
    config.convolution = c.convolution;
    torch::manual_seed(5);
    auto model = build_model(config);
    auto& vgg = dynamic_cast<Vgg16TransferImpl&>(*model);
    EXPECT_EQ(vgg.backbone->convolution_path(), c.path);
    EXPECT_EQ(backbone_convolution(vgg, torch::kCPU, Precision::kFp32), c.path);
    EXPECT_EQ(backbone_convolution(vgg, torch::kCPU, Precision::kBf16), ConvolutionPath::kDirect);
    EXPECT_EQ(describe(c.path), c.provenance);
    EXPECT_NE(vgg.feature_settings().find(c.key), std::string::npos) << vgg.feature_settings();
    const auto images = torch::rand({3, 3, 32, 32});
    EXPECT_TRUE(vgg.backbone->winograd_applies(images));
    const auto features = vgg.features(images);
    config.convolution = Convolution::kDirect;
    torch::manual_seed(5);
    auto direct_model = build_model(config);
    auto& direct = dynamic_cast<Vgg16TransferImpl&>(*direct_model);
    EXPECT_EQ(direct.feature_settings().find("conv="), std::string::npos);
    const auto want = direct.features(images);
    EXPECT_GT(relative_error(features, want), 0.0);
    EXPECT_LT(relative_error(features, want), 1e-4);
    // Trainable blocks need gradients: libtorch's convolutions.
    config.convolution = c.convolution;
    config.trainable_blocks = 1;
    auto tuned = build_model(config);
    EXPECT_FALSE(dynamic_cast<Vgg16TransferImpl&>(*tuned).backbone->winograd_applies(images));
  }
}

// Whole runs under auto: on an AVX-512 CPU ours at AVX-512; with oneDNN and our kernels capped
// at AVX2 (as on an AVX2 CPU) ours at AVX2; with our switch at baseline too, direct. The run log
// and provenance say which, and why not a faster one.
TEST(OurWinograd, RunLogAndProvenanceNameThePath) {
  SKIP_WITHOUT_AVX2();
  testing::TempDir dir;
  testing::write_cifar10_folder(dir / "data", 40, 20);
  testing::write_text(dir / "tl.json", R"({
    "name": "tl", "model": {"type": "vgg16_transfer", "weights": "random"},
    "training": {"epochs": 1, "batch_size": 16}, "output": {"cache_dir": ""}
  })");
  const std::vector<std::string> args = {
      "--config",     dir / "tl.json", "--data-dir", dir / "data",
      "--output-dir", dir / "runs",    "--threads",  "2"};
  // The run folder is <name>-<UTC time>.
  auto provenance = [&](const std::string& name) -> nlohmann::json {
    for (const auto& e : std::filesystem::directory_iterator(dir / "runs")) {
      if (e.path().filename().string().rfind(name + "-", 0) == 0) {
        const auto summary = nlohmann::json::parse(testing::read_text(e.path() / "summary.json"));
        return summary["provenance"]["convolution"];
      }
    }
    return "no run folder " + name;
  };
  auto args_named = [&](const std::string& name) {
    auto a = args;
    a.insert(a.end(), {"--set", "name=" + name});
    return a;
  };
  if (our_winograd_available(CpuIsa::kAvx512)) {
    const auto ours512 = testing::run_cli(args_named("ours512"));
    ASSERT_EQ(ours512.exit_code, 0) << ours512.err;
    EXPECT_NE(ours512.out.find("Backbone convolutions: our AVX-512 Winograd F(4x4, 3x3) "
                               "(model.convolution \"auto\")"),
              std::string::npos)
        << ours512.out;
    EXPECT_EQ(provenance("ours512"), "AVX-512 Winograd (ours)");
  }
  setenv("DNNL_MAX_CPU_ISA", "AVX2", 1);
  setenv("ONEDNN_MAX_CPU_ISA", "AVX2", 1);
  setenv(kMaxCpuIsaVariable, "avx2", 1);
  const auto ours = testing::run_cli(args_named("ours"));
  setenv(kMaxCpuIsaVariable, "baseline", 1);
  const auto direct = testing::run_cli(args_named("direct"));
  unsetenv(kMaxCpuIsaVariable);
  unsetenv("DNNL_MAX_CPU_ISA");
  unsetenv("ONEDNN_MAX_CPU_ISA");
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  EXPECT_NE(ours.out.find("Backbone convolutions: our AVX2 Winograd F(4x4, 3x3) (model.convolution "
                          "\"auto\"; ours at AVX-512: "),
            std::string::npos)
      << ours.out;
  EXPECT_EQ(provenance("ours"), "AVX2 Winograd (ours)");
  ASSERT_EQ(direct.exit_code, 0) << direct.err;
  EXPECT_NE(direct.out.find("Backbone convolutions: libtorch's direct ones (oneDNN's Winograd: "),
            std::string::npos)
      << direct.out;
  EXPECT_NE(direct.out.find("; ours: CIFAR_EXP_MAX_CPU_ISA is \"baseline\")"), std::string::npos)
      << direct.out;
  EXPECT_EQ(provenance("direct"), "libtorch direct");
}

}  // namespace
}  // namespace cifar_exp
