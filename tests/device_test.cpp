// The training path on every device this machine has: the CPU always, and where a GPU exists
// the first GPU ("cuda") and the last one ("cuda:last", when there are two or more, so that
// code which silently uses GPU 0 fails). Devices that are missing are reported as skipped.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <optional>

#include "cifar_exp/augmentation.h"
#include "cifar_exp/checkpoint.h"
#include "cifar_exp/device.h"
#include "cifar_exp/errors.h"
#include "cifar_exp/feature_cache.h"
#include "cifar_exp/training.h"
#include "test_support.h"

namespace cifar_exp {
namespace {

// "cpu", "cuda" or "cuda:last" -> a device, or nullopt when this machine lacks it.
std::optional<torch::Device> device_for(const std::string& name) {
  if (name == "cpu") return torch::Device(torch::kCPU);
  const int64_t count = int64_t(torch::cuda::device_count());
  if (name == "cuda" && count >= 1) return torch::Device(torch::kCUDA, 0);
  if (name == "cuda:last" && count >= 2) return torch::Device(torch::kCUDA, count - 1);
  return std::nullopt;
}

class OnDevice : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const auto found = device_for(GetParam());
    if (!found) GTEST_SKIP() << GetParam() << ": no such device on this machine";
    device = *found;
    // The run's defaults: fp32 arithmetic (no TF32), no autotuning, so CPU and GPU compare.
    configure_device(device, TrainingConfig{}, /*autotune=*/false);
  }
  // Tolerance for comparing against the CPU or against another run on the same device: exact
  // on the CPU, float rounding of a different kernel order on a GPU.
  double tolerance() const { return device.is_cpu() ? 0.0 : 1e-4; }

  torch::Device device = torch::kCPU;
};

struct Split {
  torch::Tensor images, labels;
};

Split learnable_on(const torch::Device& device, int64_t n, uint64_t seed) {
  auto split = testing::make_learnable_split(n, seed);
  return {split.images.to(device), split.labels.to(device)};
}

FitOptions small_options(int64_t epochs) {
  FitOptions options;
  options.epochs = epochs;
  options.batch_size = 32;
  options.eval_batch_size = 64;
  return options;
}

using testing::StopAt;

// max |a - b| / max |b|: a difference relative to the tensor's scale. VGG16 features of caffe-scale
// inputs (+-150) reach the hundreds, and cuDNN may convolve by Winograd or FFT, whose rounding
// differs from a direct convolution's by far more than 1e-4 in absolute terms there.
double max_relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  const double scale = b.abs().max().item<double>();
  const double difference = (a.to(b.device()) - b).abs().max().item<double>();
  return scale == 0 ? difference : difference / scale;
}

TEST_P(OnDevice, FitLearnsAndEvaluateAgreesWithIt) {
  auto train = learnable_on(device, 512, 1);
  auto test = learnable_on(device, 128, 2);
  torch::manual_seed(1);
  SmallCnn model;
  model->to(device);
  const History history =
      fit(*model, train.images, train.labels, test.images, test.labels, small_options(3));
  ASSERT_EQ(history.epochs.size(), 3u);
  EXPECT_GT(history.epochs.back().val_accuracy, 0.6);
  EXPECT_GT(history.epochs.back().images_per_second, 0.0);
  EXPECT_TRUE(history.last_validation.confusion.device().is_cpu());
  EXPECT_EQ(history.last_validation.confusion.sum().item<int64_t>(), 128);
  // Parameters stayed on the device; evaluating again gives the last epoch's figures.
  for (const auto& p : model->parameters()) EXPECT_EQ(p.device(), device);
  const auto again = evaluate(*model, test.images, test.labels, 64);
  EXPECT_EQ(again.accuracy, history.last_validation.accuracy);
  EXPECT_NEAR(again.loss, history.last_validation.loss, 1e-6);
}

TEST_P(OnDevice, AugmentationMatchesTheCpuForTheSameDraws) {
  auto images = testing::make_learnable_split(16, 3).images.to(torch::kFloat32).div(255.0);
  for (const auto& entry : ChoiceNames<FillMode>::kNames) {
    const FillMode fill_mode = entry.first;
    AugmentationConfig config;
    config.enabled = true;
    config.rotation_range = 30;
    config.width_shift_range = 0.2;
    config.height_shift_range = 3;
    config.shear_range = 10;
    config.zoom_lower = 0.8;
    config.zoom_upper = 1.2;
    config.horizontal_flip = true;
    config.vertical_flip = true;
    config.fill_mode = fill_mode;
    config.cval = 128;
    config.random_crop = RandomCropConfig{4, 32};
    config.cutout = 8;
    Augmenter on_cpu(config, 11), on_device(config, 11);
    for (int round = 0; round < 3; ++round) {
      auto expected = on_cpu(images);
      auto got = on_device(images.to(device));
      ASSERT_EQ(got.device(), device);
      EXPECT_TRUE(torch::allclose(got.cpu(), expected, /*rtol=*/0, /*atol=*/1e-5))
          << entry.second << " round " << round << ": max difference "
          << (got.cpu() - expected).abs().max().item<float>();
    }
  }
}

TEST_P(OnDevice, Bf16TrainsOrIsRefusedWhereUnsupported) {
  TrainingConfig bf16;
  bf16.precision = Precision::kBf16;
  if (device.is_cuda() && !supports_native_bf16(device)) {
    EXPECT_THROW(configure_device(device, bf16, false), ConfigError);
    return;
  }
  auto train = learnable_on(device, 256, 4);
  torch::manual_seed(2);
  SmallCnn model;
  model->to(device);
  FitOptions options = small_options(3);
  options.precision = Precision::kBf16;
  const History history =
      fit(*model, train.images, train.labels, train.images, train.labels, options);
  ASSERT_EQ(history.epochs.size(), 3u);
  EXPECT_TRUE(std::isfinite(history.epochs.back().train_loss));
  EXPECT_GT(history.epochs.back().val_accuracy, 0.3);  // chance is 0.1
  // Parameters and optimizer state stay fp32.
  for (const auto& p : model->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat32);
}

// Poisons the model's first parameter with NaN at the end of batch `batch` of epoch 1.
struct PoisonAfter : TrainingCallback {
  PoisonAfter(torch::nn::Module& model, int64_t batch) : model_(model), batch_(batch) {}
  void on_batch_end(const BatchProgress& p) override {
    if (p.epoch != 1 || p.batch != batch_) return;
    torch::NoGradGuard no_grad;
    model_.parameters().front().fill_(std::numeric_limits<float>::quiet_NaN());
  }
  torch::nn::Module& model_;
  int64_t batch_;
};

TEST_P(OnDevice, DivergenceNamesTheBatch) {
  // NaN weights after batch 4: the loss of batch 5 is the first that is not finite.
  torch::manual_seed(3);
  auto features = torch::randn({160, 8}).to(device);
  auto labels = torch::randint(0, 10, {160}, torch::kInt64).to(device);
  DenseHead head(8, 4, 0.0);
  head->to(device);
  PoisonAfter poison(*head, 4);
  FitOptions options = small_options(1);
  options.batch_size = 16;
  options.callbacks = {&poison};
  try {
    fit(*head, features, labels, features, labels, options);
    FAIL() << "no error";
  } catch (const DivergedError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("epoch 1, batch 5"), std::string::npos) << message;
  }
}

// Trains a dense head with dropout (its masks come from the device's generator) for 2 epochs,
// stopping after batch 5 of epoch 1 when `checkpoint` is given; returns the history and head.
std::pair<History, DenseHead> train_head(const torch::Device& device, const std::string& checkpoint,
                                         const std::string& resume_from, bool stop_early,
                                         uint64_t seed) {
  torch::manual_seed(7);
  auto features = torch::randn({192, 12}).to(device);
  auto labels = torch::randint(0, 10, {192}, torch::kInt64).to(device);
  torch::manual_seed(seed);
  DenseHead head(12, 16, 0.5);
  head->to(device);
  FitOptions options = small_options(2);
  options.batch_size = 16;
  options.checkpoint_path = checkpoint;
  options.resume_from = resume_from;
  std::atomic<bool> stop{false};
  StopAt stop_at(1, 5, stop);
  if (stop_early) {
    options.stop_requested = &stop;
    options.callbacks = {&stop_at};
  }
  auto history = fit(*head, features, labels, features, labels, options);
  return {history, head};
}

TEST_P(OnDevice, CheckpointResumesOnTheSameDeviceWithEveryGenerator) {
  testing::TempDir dir;
  auto [reference, reference_head] = train_head(device, "", "", false, 5);
  auto [stopped, stopped_head] = train_head(device, dir / "c.pt", "", true, 5);
  ASSERT_TRUE(stopped.interrupted);
  const TrainingState state = peek_checkpoint(dir / "c.pt");
  EXPECT_EQ(state.cuda_rng_state.defined(), device.is_cuda());
  // Another seed: only the checkpoint (weights, Adam, every generator) can make them match.
  auto [resumed, resumed_head] = train_head(device, dir / "c.pt", dir / "c.pt", false, 99);
  ASSERT_EQ(resumed.epochs.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_NEAR(resumed.epochs[i].train_loss, reference.epochs[i].train_loss, tolerance());
    EXPECT_NEAR(resumed.epochs[i].val_loss, reference.epochs[i].val_loss, tolerance());
  }
  auto pa = reference_head->parameters(), pb = resumed_head->parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::allclose(pa[i].cpu(), pb[i].cpu(), 0, tolerance() + 1e-12)) << i;
  }
}

TEST_P(OnDevice, CheckpointFromThisDeviceResumesOnTheCpu) {
  testing::TempDir dir;
  auto [stopped, stopped_head] = train_head(device, dir / "c.pt", "", true, 5);
  ASSERT_TRUE(stopped.interrupted);
  // Resumed on the CPU: loads (tensors mapped to the CPU) and finishes both epochs.
  auto [resumed, resumed_head] = train_head(torch::kCPU, dir / "cpu.pt", dir / "c.pt", false, 99);
  ASSERT_EQ(resumed.epochs.size(), 2u);
  EXPECT_TRUE(std::isfinite(resumed.epochs[1].train_loss));
  for (const auto& p : resumed_head->parameters()) EXPECT_TRUE(p.device().is_cpu());
}

TEST_P(OnDevice, ModelFileLoadsOnTheCpu) {
  testing::TempDir dir;
  torch::manual_seed(4);
  SmallCnn model;
  model->to(device);
  save_model_file(*model, dir / "model.pt");
  SmallCnn on_cpu;
  torch::load(on_cpu, dir / "model.pt");  // no device given: tensors come back as written
  auto pa = model->named_parameters(), pb = on_cpu->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& p : pa) {
    EXPECT_TRUE(pb[p.key()].device().is_cpu()) << p.key();
    EXPECT_TRUE(torch::equal(pb[p.key()], p.value().cpu())) << p.key();
  }
}

TEST_P(OnDevice, FeatureExtractionMatchesTheCpu) {
  ModelConfig config;
  config.type = ModelType::kVgg16Transfer;
  config.weights = "random";
  torch::manual_seed(6);
  Vgg16Transfer model(config, Preprocess::kCaffe);
  model->eval();
  auto images = testing::make_learnable_split(24, 5).images;
  auto expected = compute_features(*model, images, 10);
  model->to(device);
  auto got = compute_features(*model, images.to(device), 10);
  ASSERT_EQ(got.device(), device);
  ASSERT_EQ(got.sizes(), expected.sizes());
  // fp32 through 13 convolutions: 1e-4 of the largest feature is ~1000 ulps at that scale, room
  // for Winograd/FFT rounding, yet far below any real error (a wrong layer or weight moves
  // features by a sizeable fraction of their range).
  EXPECT_LE(max_relative_difference(got.cpu(), expected), 1e-4)
      << "max difference " << (got.cpu() - expected).abs().max().item<float>() << " of max "
      << expected.abs().max().item<float>();
  if (device.is_cpu()) EXPECT_TRUE(torch::equal(got, expected));
  // The cache keys of CPU and GPU features differ, so neither is read for the other; the key of
  // images on the GPU is the same whether hashed from them or from their host copy.
  if (device.is_cuda()) {
    const auto on_device = images.to(device);
    EXPECT_NE(feature_cache_key(*model, on_device), feature_cache_key(*model, images));
    EXPECT_EQ(feature_cache_key(*model, on_device, images), feature_cache_key(*model, on_device));
  }
}

TEST_P(OnDevice, InferenceBatchShrinksWithTheInputSize) {
  ModelConfig config;
  config.type = ModelType::kVgg16Transfer;
  config.weights = "random";
  config.input_size = 224;
  Vgg16Transfer large(config, Preprocess::kCaffe);
  EXPECT_EQ(large->inference_batch_size(1000), 20);  // 1000 / 49
  EXPECT_EQ(large->inference_batch_size(10), 1);
  config.input_size = 32;
  Vgg16Transfer small(config, Preprocess::kCaffe);
  EXPECT_EQ(small->inference_batch_size(1000), 1000);
}

TEST_P(OnDevice, OutOfMemoryIsRecognised) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "ASan aborts on absurd allocations instead of failing them";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  GTEST_SKIP() << "ASan aborts on absurd allocations instead of failing them";
#endif
#endif
  try {
    auto huge = torch::empty({int64_t(1) << 50}, torch::TensorOptions().device(device));
    FAIL() << "a 4 PiB allocation succeeded";
  } catch (const c10::Error& e) {
    EXPECT_TRUE(is_out_of_memory(e)) << e.what_without_backtrace();
  }
}

INSTANTIATE_TEST_SUITE_P(Devices, OnDevice, ::testing::Values("cpu", "cuda", "cuda:last"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param == "cuda:last" ? std::string("cuda_last") : info.param;
                         });

TEST(Device, ResolvesSpecsWithAnExplicitIndex) {
  EXPECT_EQ(resolve_device("cpu"), torch::Device(torch::kCPU));
  if (torch::cuda::is_available()) {
    EXPECT_EQ(resolve_device("cuda"), torch::Device(torch::kCUDA, 0));
    EXPECT_EQ(resolve_device("auto"), torch::Device(torch::kCUDA, 0));
  } else {
    EXPECT_EQ(resolve_device("auto"), torch::Device(torch::kCPU));
    EXPECT_THROW(resolve_device("cuda"), ConfigError);
  }
  EXPECT_THROW(resolve_device("cuda:99"), ConfigError);
}

TEST(Device, ReportNamesLibrariesAndHardware) {
  const DeviceReport report = device_report();
  EXPECT_FALSE(report.libtorch.empty());
  EXPECT_FALSE(report.cpu.empty());
  EXPECT_EQ(int64_t(report.gpus.size()), int64_t(torch::cuda::device_count()));
  if (torch::cuda::is_available()) {
    EXPECT_FALSE(report.cuda_runtime.empty());
    EXPECT_FALSE(report.cuda_runtime_built.empty());
  }
  // A CUDA build knows both, loaded and built against; a CPU-only one neither.
  EXPECT_EQ(report.cuda_runtime.empty(), report.cuda_runtime_built.empty());
  if (report.cudnn_built.empty()) EXPECT_TRUE(report.cudnn.empty());
  EXPECT_EQ(device_name(torch::kCPU), report.cpu);
}

TEST(Device, VersionTextSaysWhichLibraryIsLoaded) {
  EXPECT_EQ(loaded_version_text("", "", "none"), "none");
  EXPECT_EQ(loaded_version_text("13.2", "13.2", "none"), "13.2");
  EXPECT_EQ(loaded_version_text("13.2", "13.0", "none"), "13.2 (libtorch built against 13.0)");
  EXPECT_EQ(loaded_version_text("", "9.1.0", "none"),
            "9.1.0 (built against; the loaded version is unknown)");
}

}  // namespace
}  // namespace cifar_exp
