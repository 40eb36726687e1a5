// Training on every device this machine has (tests/data/on_device.h): fit and evaluate, bf16,
// divergence named by its batch, checkpoints that resume on the same device and on the CPU,
// model files that load on the CPU.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>

#include "cifar_exp/data/device.h"
#include "cifar_exp/io/errors.h"
#include "cifar_exp/models/models.h"
#include "cifar_exp/training/checkpoint.h"
#include "cifar_exp/training/fit.h"
#include "data/on_device.h"
#include "test_support.h"

namespace cifar_exp {
namespace {

class TrainingOnDevice : public testing::OnDeviceFixture {};

struct Split {
  torch::Tensor images, labels;
};

Split learnable_on(const torch::Device& device, int64_t n, uint64_t seed) {
  auto split = testing::make_learnable_split(n, seed);
  return {split.images.to(device), split.labels.to(device)};
}

FitOptions small_options(int64_t epochs) {
  FitOptions options;
  options.training.epochs = epochs;
  options.training.batch_size = 32;
  options.training.eval_batch_size = 64;
  return options;
}

using testing::StopAt;

TEST_P(TrainingOnDevice, FitLearnsAndEvaluateAgreesWithIt) {
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

TEST_P(TrainingOnDevice, Bf16TrainsOrIsRefusedWhereUnsupported) {
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
  options.training.precision = Precision::kBf16;
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

TEST_P(TrainingOnDevice, DivergenceNamesTheBatch) {
  // NaN weights after batch 4: the loss of batch 5 is the first that is not finite.
  torch::manual_seed(3);
  auto features = torch::randn({160, 8}).to(device);
  auto labels = torch::randint(0, 10, {160}, torch::kInt64).to(device);
  DenseHead head(8, 4, 0.0);
  head->to(device);
  PoisonAfter poison(*head, 4);
  FitOptions options = small_options(1);
  options.training.batch_size = 16;
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
  options.training.batch_size = 16;
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

TEST_P(TrainingOnDevice, CheckpointResumesOnTheSameDeviceWithEveryGenerator) {
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

TEST_P(TrainingOnDevice, CheckpointFromThisDeviceResumesOnTheCpu) {
  testing::TempDir dir;
  auto [stopped, stopped_head] = train_head(device, dir / "c.pt", "", true, 5);
  ASSERT_TRUE(stopped.interrupted);
  // Resumed on the CPU: loads (tensors mapped to the CPU) and finishes both epochs.
  auto [resumed, resumed_head] = train_head(torch::kCPU, dir / "cpu.pt", dir / "c.pt", false, 99);
  ASSERT_EQ(resumed.epochs.size(), 2u);
  EXPECT_TRUE(std::isfinite(resumed.epochs[1].train_loss));
  for (const auto& p : resumed_head->parameters()) EXPECT_TRUE(p.device().is_cpu());
}

TEST_P(TrainingOnDevice, ModelFileLoadsOnTheCpu) {
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

INSTANTIATE_TEST_SUITE_P(Devices, TrainingOnDevice, testing::kDeviceNames,
                         testing::device_test_name);

}  // namespace
}  // namespace cifar_exp
