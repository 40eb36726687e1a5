// Tests for callbacks.h: the progress bar, the epoch logger, stop_training, divergence,
// EpochIterator.
#include "cifar_exp/training/callbacks.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/training/fit.h"
#include "test_support.h"

namespace cifar_exp {
namespace {

BatchProgress progress_after(int64_t batch, int64_t num_batches, double loss_sum, int64_t correct,
                             int64_t seen) {
  BatchProgress p;
  p.epoch = 2;
  p.batch = batch;
  p.num_batches = num_batches;
  p.seen = seen;
  p.loss_sum = torch::tensor(float(loss_sum));
  p.correct = torch::tensor(correct);
  p.loss = torch::tensor(0.5f);
  return p;
}

std::string file_text(std::FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string text;
  char buffer[256];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, file)) text.append(buffer, n);
  return text;
}

TEST(ProgressBar, DrawsTheRunningLossAndAccuracyAndClearsAtEpochEnd) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  ProgressBar bar(out, /*enabled=*/true);
  bar.on_batch_end(progress_after(5, 10, 10.0, 40, 80));  // loss 0.125, accuracy 50%
  const std::string drawn = file_text(out);
  EXPECT_NE(drawn.find("epoch 2 [==============="), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("5/10 loss 0.1250 accuracy 50.00%"), std::string::npos) << drawn;
  // The same percent step is not drawn twice; the last batch always is.
  bar.on_batch_end(progress_after(5, 10, 10.0, 40, 80));
  EXPECT_EQ(file_text(out), drawn);
  bar.on_batch_end(progress_after(10, 10, 16.0, 100, 160));
  EXPECT_NE(file_text(out).find("10/10 loss 0.1000 accuracy 62.50%"), std::string::npos);
  bar.on_epoch_end(EpochMetrics{}, EvaluationResult{});
  EXPECT_EQ(file_text(out).back(), '\r');
  std::fclose(out);
}

TEST(ProgressBar, ReadsTheDeviceAtMostEveryIntervalAndAtTheEpochsEnd) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  auto now = ProgressBar::Clock::time_point{};
  ProgressBar bar(out, /*enabled=*/true, std::chrono::seconds(2), [&] { return now; });
  // Totals that cannot be read (undefined) prove that a draw did not read them.
  auto unreadable = [](int64_t batch) {
    BatchProgress p = progress_after(batch, 100, 0, 0, 1);
    p.loss_sum = p.correct = torch::Tensor();
    return p;
  };
  bar.on_batch_end(progress_after(1, 100, 2.0, 1, 4));  // the first draw reads
  EXPECT_NE(file_text(out).find("1/100 loss 0.5000 accuracy 25.00%"), std::string::npos);
  now += std::chrono::milliseconds(1900);
  EXPECT_NO_THROW(bar.on_batch_end(unreadable(2)));  // redrawn, with the numbers read before
  EXPECT_NE(file_text(out).find("2/100 loss 0.5000 accuracy 25.00%"), std::string::npos);
  now += std::chrono::milliseconds(100);
  bar.on_batch_end(progress_after(3, 100, 3.0, 6, 12));  // 2 s later: read again
  EXPECT_NE(file_text(out).find("3/100 loss 0.2500 accuracy 50.00%"), std::string::npos);
  EXPECT_NO_THROW(bar.on_batch_end(unreadable(4)));
  bar.on_batch_end(progress_after(100, 100, 40.0, 300, 400));  // the epoch's last batch reads
  EXPECT_NE(file_text(out).find("100/100 loss 0.1000 accuracy 75.00%"), std::string::npos);
  // A new epoch shows no numbers until it reads its own.
  bar.on_epoch_end(EpochMetrics{}, EvaluationResult{});
  EXPECT_NO_THROW(bar.on_batch_end(unreadable(1)));
  const std::string text = file_text(out);
  EXPECT_EQ(text.substr(text.rfind('\r')), "\r  epoch 2 [                              ] 1/100 ");
  std::fclose(out);
}

TEST(ProgressBar, DisabledDrawsNothing) {
  std::FILE* out = std::tmpfile();
  ProgressBar bar(out, /*enabled=*/false);
  bar.on_batch_end(progress_after(1, 2, 1.0, 1, 2));
  // Nor reads anything from the device.
  BatchProgress unreadable = progress_after(2, 2, 1.0, 1, 2);
  unreadable.loss_sum = unreadable.correct = torch::Tensor();
  EXPECT_NO_THROW(bar.on_batch_end(unreadable));
  bar.on_epoch_end(EpochMetrics{}, EvaluationResult{});
  EXPECT_EQ(file_text(out), "");
  std::fclose(out);
}

TEST(EpochLogger, TellsEachEpochInOneLine) {
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  sink->set_pattern("%v");
  auto logger = std::make_shared<spdlog::logger>("test", sink);
  EpochLogger epoch_logger(logger);
  epoch_logger.on_train_begin(10, 782);
  EpochMetrics m;
  m.epoch = 3;
  m.train_loss = 0.91234;
  m.train_accuracy = 0.62184;
  m.val_loss = 1.05;
  m.val_accuracy = 0.6;
  m.seconds = 12.34;
  m.images_per_second = 4051.2;
  epoch_logger.on_epoch_end(m, EvaluationResult{});
  EXPECT_EQ(log.str(),
            "Training 10 epochs of 782 batches\n"
            "Epoch 3/10: loss 0.9123, accuracy 62.18%, error 37.82%, val_loss 1.0500, "
            "val_accuracy 60.00%, val_error 40.00% (12.3 s, 4051 images/s)\n");
}

// A callback that stops training itself, as Keras' EarlyStopping would: fit() ends the epoch
// there, marks the history interrupted and still calls on_train_end.
struct StopAfterBatches : TrainingCallback {
  explicit StopAfterBatches(int64_t batches) : batches_(batches) {}
  void on_batch_end(const BatchProgress& p) override {
    if (p.batch == batches_) fit_state().stop_training = true;
  }
  void on_train_end(const History& h) override { ended_interrupted = h.interrupted; }
  int64_t batches_;
  bool ended_interrupted = false;
};

// Three epochs of the small CNN on 200 images in batches of 32 (7 batches an epoch).
History fit_small(std::vector<TrainingCallback*> callbacks,
                  const std::atomic<bool>* stop_requested = nullptr) {
  torch::manual_seed(1);
  auto train = testing::make_learnable_split(200, 1);
  auto test = testing::make_learnable_split(50, 2);
  SmallCnn model;
  FitOptions options;
  options.training.epochs = 3;
  options.training.batch_size = 32;
  options.callbacks = std::move(callbacks);
  options.stop_requested = stop_requested;
  return fit(*model, train.images, train.labels, test.images, test.labels, options);
}

TEST(Callbacks, StopTrainingFlagEndsFitAfterThatBatch) {
  StopAfterBatches stopper(3);
  const History h = fit_small({&stopper});
  EXPECT_TRUE(h.interrupted);
  EXPECT_EQ(h.stopped_at_epoch, 1);
  EXPECT_EQ(h.stopped_at_batch, 3);
  EXPECT_TRUE(h.epochs.empty());
  EXPECT_TRUE(stopper.ended_interrupted);
}

TEST(Callbacks, StopOnRequestReadsTheFlagAfterEveryBatch) {
  std::atomic<bool> requested{false};
  testing::StopAt stop_at(2, 4, requested);
  const History h = fit_small({&stop_at}, &requested);
  EXPECT_TRUE(h.interrupted);
  EXPECT_EQ(h.stopped_at_epoch, 2);
  EXPECT_EQ(h.stopped_at_batch, 4);
  EXPECT_EQ(h.epochs.size(), 1u);
}

TEST(DivergenceCheck, NamesTheEpochAndBatchOfANonFiniteLoss) {
  // Poisons the weights after batch 2, so batch 3's loss is NaN.
  struct Poison : TrainingCallback {
    void on_batch_end(const BatchProgress& p) override {
      if (p.batch != 2) return;
      torch::NoGradGuard no_grad;
      for (auto& parameter : fit_state().model.parameters()) parameter.fill_(NAN);
    }
  } poison;
  try {
    fit_small({&poison});
    FAIL() << "no DivergedError";
  } catch (const DivergedError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("training diverged: loss is ", 0), 0u) << message;
    EXPECT_NE(message.find("nan at epoch 1, batch 3"), std::string::npos) << message;
  }
}

TEST(DivergenceCheck, ANonFiniteValidationLossEndsTrainingNamingItAndTheEpoch) {
  // Poisons the weights after the last batch of epoch 2: every training loss is finite, the
  // validation that follows is not.
  struct PoisonLastBatch : TrainingCallback {
    void on_batch_end(const BatchProgress& p) override {
      if (p.epoch != 2 || p.batch != p.num_batches) return;
      torch::NoGradGuard no_grad;
      for (auto& parameter : fit_state().model.parameters()) parameter.fill_(NAN);
    }
    void on_epoch_end(const EpochMetrics& m, const EvaluationResult&) override {
      recorded.push_back(m.epoch);
    }
    std::vector<int64_t> recorded;
  } poison;
  try {
    fit_small({&poison});
    FAIL() << "no DivergedError";
  } catch (const DivergedError& e) {
    EXPECT_EQ(std::string(e.what()), "training diverged: val_loss is nan in epoch 2");
    EXPECT_EQ(e.code(), ExitCode::kDiverged);
  }
  // Epoch 2 is not recorded: the check comes before every other callback's on_epoch_end.
  EXPECT_EQ(poison.recorded, (std::vector<int64_t>{1}));
}

TEST(DivergenceCheck, NamesWhichEvaluationFigureIsNotFinite) {
  EvaluationResult result;
  result.loss = 0.5;
  result.accuracy = 0.25;
  check_evaluation_finite(result, "test_", "after epoch 4");  // finite: nothing
  result.loss = std::numeric_limits<double>::infinity();
  try {
    check_evaluation_finite(result, "test_", "after epoch 4");
    FAIL() << "no DivergedError";
  } catch (const DivergedError& e) {
    EXPECT_EQ(std::string(e.what()), "training diverged: test_loss is inf after epoch 4");
  }
  result.loss = 0.5;
  result.accuracy = std::numeric_limits<double>::quiet_NaN();
  try {
    check_evaluation_finite(result, "val_", "in epoch 1");
    FAIL() << "no DivergedError";
  } catch (const DivergedError& e) {
    EXPECT_EQ(std::string(e.what()), "training diverged: val_accuracy is nan in epoch 1");
  }
  // Without validation, fit() leaves the figures NaN ("not recorded") and the confusion
  // matrix undefined: fit_small's validation-free twin trains to the end.
  torch::manual_seed(1);
  auto train = testing::make_learnable_split(64, 1);
  SmallCnn model;
  FitOptions options;
  options.training.epochs = 1;
  options.training.batch_size = 32;
  const History h = fit(*model, train.images, train.labels, {}, {}, options);
  ASSERT_EQ(h.epochs.size(), 1u);
  EXPECT_TRUE(std::isnan(h.epochs[0].val_loss));
}

TEST(EpochIterator, CoversEveryRowOnceWithAShorterLastBatch) {
  torch::manual_seed(3);
  EpochIterator batches(10, 4, torch::kCPU);
  EXPECT_EQ(batches.batches_per_epoch(), 3);
  batches.shuffle();
  std::vector<torch::Tensor> seen;
  while (!batches.done()) seen.push_back(batches.next());
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2].size(0), 2);
  auto all = std::get<0>(torch::cat(seen).sort());
  EXPECT_TRUE(all.equal(torch::arange(10)));
}

TEST(EpochIterator, ResumesASavedOrderWhereItStopped) {
  EpochIterator batches(10, 4, torch::kCPU);
  auto order = torch::arange(9, -1, -1);
  batches.resume(order, 2);
  EXPECT_FALSE(batches.done());
  EXPECT_TRUE(batches.next().equal(torch::tensor({1, 0})));
  EXPECT_TRUE(batches.done());
}

}  // namespace
}  // namespace cifar_exp
