// Tests for fit.h: fit, the callback protocol, evaluation, reproducibility.
#include "cifar_exp/training/fit.h"

#include <gtest/gtest.h>

#include "cifar_exp/data/device.h"
#include "cifar_exp/io/errors.h"
#include "test_support.h"

namespace cifar_exp {
namespace {

// Records what the loop reports, to check the callback protocol.
struct Recorder : TrainingCallback {
  int64_t begun_epochs = 0, batches_per_epoch = 0, batch_calls = 0;
  std::vector<EpochMetrics> epochs;
  bool ended = false, ended_interrupted = false;
  void on_train_begin(int64_t e, int64_t b) override {
    begun_epochs = e;
    batches_per_epoch = b;
  }
  void on_batch_end(const BatchProgress&) override { ++batch_calls; }
  void on_epoch_end(const EpochMetrics& m, const EvaluationResult&) override {
    epochs.push_back(m);
  }
  void on_train_end(const History& h) override {
    ended = true;
    ended_interrupted = h.interrupted;
  }
};

History train_small(uint64_t seed, Recorder* recorder = nullptr, int64_t epochs = 2,
                    Precision precision = Precision::kFp32) {
  torch::manual_seed(seed);
  auto train = testing::make_learnable_split(600, 11);
  auto test = testing::make_learnable_split(100, 12);
  SmallCnn model;
  FitOptions options;
  options.training.epochs = epochs;
  options.training.batch_size = 32;
  options.training.eval_batch_size = 64;
  options.training.precision = precision;
  if (recorder) options.callbacks = {recorder};
  return fit(*model, train.images, train.labels, test.images, test.labels, options);
}

TEST(Training, LearnsAndReportsEveryEpoch) {
  Recorder recorder;
  const auto history = train_small(1, &recorder, 3);
  ASSERT_EQ(history.epochs.size(), 3u);
  EXPECT_EQ(recorder.begun_epochs, 3);
  EXPECT_EQ(recorder.batches_per_epoch, 19);  // ceil(600 / 32)
  EXPECT_EQ(recorder.batch_calls, 57);
  EXPECT_EQ(recorder.epochs.size(), 3u);
  EXPECT_TRUE(recorder.ended);
  for (size_t i = 0; i < 3; ++i) {
    const auto& m = history.epochs[i];
    EXPECT_EQ(m.epoch, int64_t(i + 1));
    EXPECT_GE(m.train_accuracy, 0.0);
    EXPECT_LE(m.train_accuracy, 1.0);
    EXPECT_DOUBLE_EQ(m.train_error(), 1.0 - m.train_accuracy);
    EXPECT_GT(m.seconds, 0.0);
    EXPECT_GT(m.images_per_second, 0.0);
  }
  EXPECT_LT(history.epochs.back().train_loss, history.epochs.front().train_loss);
  EXPECT_GT(history.last_validation.accuracy, 0.8);
  EXPECT_EQ(history.last_validation.confusion.sum().item<int64_t>(), 100);
}

TEST(Training, Bf16AutocastStillLearns) {
  // Parameters stay fp32 and training still reaches the fp32 accuracy on the learnable data.
  const auto history = train_small(1, nullptr, 3, Precision::kBf16);
  EXPECT_GT(history.last_validation.accuracy, 0.8);
  EXPECT_LT(history.epochs.back().train_loss, history.epochs.front().train_loss);
  const auto fp32 = train_small(1, nullptr, 3, Precision::kFp32);
  EXPECT_NE(history.epochs.back().train_loss, fp32.epochs.back().train_loss);  // it did run bf16
}

TEST(Training, SameSeedSameResultDifferentSeedDifferent) {
  const auto a = train_small(5);
  const auto b = train_small(5);
  const auto c = train_small(6);
  EXPECT_DOUBLE_EQ(a.epochs.back().train_loss, b.epochs.back().train_loss);
  EXPECT_DOUBLE_EQ(a.last_validation.loss, b.last_validation.loss);
  EXPECT_NE(a.epochs.back().train_loss, c.epochs.back().train_loss);
}

// A model that predicts a fixed class, to check evaluation arithmetic exactly.
struct ConstantModel : ClassifierImpl {
  int64_t cls;
  explicit ConstantModel(int64_t c) : cls(c) {}
  torch::Tensor forward(torch::Tensor x) override {
    auto logits = torch::zeros({x.size(0), 10});
    logits.select(1, cls).fill_(5.0);
    return logits;
  }
  std::string kind() const override { return "constant"; }
};

TEST(Training, EvaluateCountsConfusionExactly) {
  ConstantModel model(3);
  auto images = torch::zeros({7, 3, 32, 32}, torch::kUInt8);
  auto labels = torch::tensor({3, 3, 1, 0, 3, 9, 9}, torch::kInt64);
  const auto result = evaluate(model, images, labels, 3);
  EXPECT_NEAR(result.accuracy, 3.0 / 7.0, 1e-12);
  EXPECT_EQ(result.confusion[3][3].item<int64_t>(), 3);
  EXPECT_EQ(result.confusion[9][3].item<int64_t>(), 2);
  EXPECT_EQ(result.confusion[1][3].item<int64_t>(), 1);
  EXPECT_EQ(result.confusion.sum().item<int64_t>(), 7);
  const auto per_class = result.per_class_accuracy();
  EXPECT_DOUBLE_EQ(per_class[3], 1.0);
  EXPECT_DOUBLE_EQ(per_class[9], 0.0);
  // Cross-entropy of logits (5 at the class, 0 elsewhere): correct -> -log(e^5/(e^5+9)).
  const double right = -std::log(std::exp(5.0) / (std::exp(5.0) + 9.0));
  const double wrong = -std::log(1.0 / (std::exp(5.0) + 9.0));
  EXPECT_NEAR(result.loss, (3 * right + 4 * wrong) / 7.0, 1e-5);
}

// A model that predicts the class written in each image's first pixel.
struct PixelModel : ClassifierImpl {
  torch::Tensor forward(torch::Tensor x) override {
    auto cls = x.select(1, 0).select(1, 0).select(1, 0).mul(255.0).round().to(torch::kInt64);
    return torch::one_hot(cls, 10).to(torch::kFloat32).mul(5.0);
  }
  std::string kind() const override { return "pixel"; }
};

TEST(Training, EvaluateCountsEveryPairOfTheConfusionMatrix) {
  // 23 images in batches of 4 (the last one short), pairs repeated within and across batches.
  const std::vector<int64_t> truth = {0, 1, 2, 2, 2, 9, 9, 5, 5, 5, 5, 3,
                                      3, 8, 8, 0, 0, 7, 7, 7, 4, 6, 1};
  const std::vector<int64_t> guess = {0, 1, 2, 2, 3, 9, 0, 5, 5, 5, 4, 3,
                                      3, 8, 1, 0, 0, 7, 2, 2, 4, 6, 1};
  const int64_t n = int64_t(truth.size());
  auto images = torch::zeros({n, 3, 32, 32}, torch::kUInt8);
  images.select(1, 0).select(1, 0).select(1, 0).copy_(torch::tensor(guess).to(torch::kUInt8));
  PixelModel model;
  const auto result = evaluate(model, images, torch::tensor(truth), 4);
  int64_t expected[10][10] = {};
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    ++expected[truth[size_t(i)]][guess[size_t(i)]];
    correct += truth[size_t(i)] == guess[size_t(i)];
  }
  const auto rows = result.confusion_rows();
  ASSERT_EQ(rows.size(), 10u);
  for (int64_t r = 0; r < 10; ++r) {
    for (int64_t c = 0; c < 10; ++c) {
      EXPECT_EQ(rows[size_t(r)][size_t(c)], expected[r][c]) << r << "," << c;
    }
  }
  EXPECT_EQ(result.confusion.scalar_type(), torch::kInt64);
  EXPECT_TRUE(result.confusion.device().is_cpu());
  EXPECT_EQ(expected[2][2], 2);
  EXPECT_EQ(expected[7][2], 2);
  EXPECT_DOUBLE_EQ(result.accuracy, double(correct) / double(n));
}

TEST(Training, DivergenceStopsWithEpochAndBatch) {
  torch::manual_seed(0);
  auto train = testing::make_learnable_split(64, 1);
  SmallCnn model;
  FitOptions options;
  options.training.epochs = 2;
  options.training.batch_size = 16;
  options.training.learning_rate = 1e-3;
  options.augment = [](const torch::Tensor& x) {
    return x * std::numeric_limits<float>::quiet_NaN();
  };
  try {
    fit(*model, train.images, train.labels, train.images, train.labels, options);
    FAIL() << "expected DivergedError";
  } catch (const DivergedError& e) {
    EXPECT_EQ(std::string(e.what()), "training diverged: loss is nan at epoch 1, batch 1");
    EXPECT_EQ(e.code(), ExitCode::kDiverged);
  }
}

TEST(Training, StopRequestEndsAfterTheCurrentBatch) {
  torch::manual_seed(0);
  auto train = testing::make_learnable_split(64, 1);
  SmallCnn model;
  std::atomic<bool> stop{false};
  Recorder recorder;
  FitOptions options;
  options.training.epochs = 3;
  options.training.batch_size = 16;
  options.stop_requested = &stop;
  options.callbacks = {&recorder};
  // Ask to stop during the second epoch's third batch.
  options.augment = [&](const torch::Tensor& x) {
    if (recorder.epochs.size() == 1 && recorder.batch_calls == 6) stop = true;
    return x;
  };
  const auto history = fit(*model, train.images, train.labels, train.images, train.labels, options);
  EXPECT_TRUE(history.interrupted);
  EXPECT_EQ(history.epochs.size(), 1u);  // the partial epoch is dropped
  EXPECT_EQ(history.stopped_at_epoch, 2);
  EXPECT_EQ(history.stopped_at_batch, 3);
  EXPECT_EQ(recorder.batch_calls, 7);
  // Callbacks hear of the stop in on_train_end (the checkpointer writes its mid-epoch state then).
  EXPECT_TRUE(recorder.ended);
  EXPECT_TRUE(recorder.ended_interrupted);
}

TEST(Training, DeviceChoice) {
  EXPECT_EQ(resolve_device("cpu"), torch::Device(torch::kCPU));
  if (!torch::cuda::is_available()) {
    EXPECT_EQ(resolve_device("auto"), torch::Device(torch::kCPU));
    try {
      resolve_device("cuda:0");
      FAIL() << "expected ConfigError";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("CUDA is not available"), std::string::npos);
    }
  } else {
    EXPECT_TRUE(resolve_device("auto").is_cuda());
  }
  EXPECT_THROW(resolve_device("gpu"), ConfigError);
}

}  // namespace
}  // namespace cifar_exp
