// The training callbacks (Keras' callbacks): what happens around fit()'s loop — the divergence
// check, checkpoints, stop requests, the console story, the progress bar, metrics files and
// summary.json — each in one class, told about batches and epochs by fit().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "cifar_exp/records/run_summary.h"
#include "cifar_exp/training/callback.h"

namespace cifar_exp {

// Keras' TerminateOnNaN, with DivergedError (exit 6) naming the epoch and batch. On the CPU each
// batch's loss is read at once; on CUDA, where that would stall the queue, the first bad batch
// is noted on the device and read every kCheckInterval batches and when the epoch or training
// ends. A NaN or infinite validation loss or accuracy ends training the same way, naming the
// epoch (before the epoch is recorded anywhere).
class DivergenceCheck : public TrainingCallback {
 public:
  static constexpr int64_t kCheckInterval = 50;
  void on_batch_end(const BatchProgress& progress) override;
  void on_epoch_end(const EpochMetrics& m, const EvaluationResult& val) override;
  void on_train_end(const History& history) override;
};

// DivergedError naming the batch when progress.first_nonfinite_batch records one (reads it from
// the device: call every few batches, not every batch).
void check_finite(const BatchProgress& progress);

// DivergedError when an evaluation's loss or accuracy is NaN or infinite: "training diverged:
// <prefix>loss is nan <when>" (prefix "val_" or "test_", when "in epoch 3").
void check_evaluation_finite(const EvaluationResult& result, const std::string& prefix,
                             const std::string& when);

// Keras' BackupAndRestore: restore() continues from `resume_from` when given (model, optimizer,
// generators, position, epochs so far, best weights; fit() calls it before any callback's
// on_train_begin); checkpoint.pt is written after every epoch and, mid-epoch, when training
// stops. `augment_generator`: the augmenter's, whose state is saved too (undefined = none).
class Checkpointer : public TrainingCallback {
 public:
  Checkpointer(std::string path, std::string resume_from, at::Generator augment_generator);
  void restore();
  void on_epoch_end(const EpochMetrics& m, const EvaluationResult& val) override;
  void on_train_end(const History& history) override;

 private:
  void save(int64_t epoch, int64_t batches_done);
  std::string path_, resume_from_;
  at::Generator augment_generator_;
};

// Stops training after the current batch once `requested` is set (by a signal handler).
class StopOnRequest : public TrainingCallback {
 public:
  explicit StopOnRequest(const std::atomic<bool>& requested) : requested_(requested) {}
  void on_batch_end(const BatchProgress& progress) override;

 private:
  const std::atomic<bool>& requested_;
};

// "Epoch 3/10: loss 0.9, accuracy 62.18%, error 37.82%, val_loss ..., val_accuracy ..."
// and, when training ends, why it stopped early and whose weights the model holds.
class EpochLogger : public TrainingCallback {
 public:
  explicit EpochLogger(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}
  void on_train_begin(int64_t epochs, int64_t batches_per_epoch) override;
  void on_epoch_end(const EpochMetrics& m, const EvaluationResult& val) override;
  void on_train_end(const History& history) override;

 private:
  std::shared_ptr<spdlog::logger> logger_;
  int64_t epochs_ = 0;
};

// A progress bar within each epoch, on `out` (stderr by default) when it is a terminal (else it
// does nothing, reads included). The bar is redrawn up to ~100 times an epoch, but the running
// loss and accuracy, whose reading waits for the device, are read at most once every
// `read_interval` (and at the epoch's last batch); in between the bar shows the last numbers
// read in this epoch, or none yet. `now` is the clock (tests pass their own).
class ProgressBar : public TrainingCallback {
 public:
  using Clock = std::chrono::steady_clock;
  ProgressBar();
  ProgressBar(std::FILE* out, bool enabled, Clock::duration read_interval = std::chrono::seconds(2),
              std::function<Clock::time_point()> now = Clock::now)
      : out_(out), enabled_(enabled), read_interval_(read_interval), now_(std::move(now)) {}
  void on_batch_end(const BatchProgress& progress) override;
  void on_epoch_end(const EpochMetrics& m, const EvaluationResult& val) override;

 private:
  std::FILE* out_;
  bool enabled_;
  Clock::duration read_interval_;
  std::function<Clock::time_point()> now_;
  int64_t last_drawn_ = -1;
  std::optional<Clock::time_point> last_read_;
  std::string numbers_;  // " loss ... accuracy ..." as last read this epoch, or ""
};

// metrics.csv and metrics.jsonl, rewritten (atomically) after every epoch.
class MetricsWriter : public TrainingCallback {
 public:
  // `earlier`: epochs completed before a resume, kept at the top of the files.
  explicit MetricsWriter(std::string run_dir, std::vector<EpochMetrics> earlier = {})
      : run_dir_(std::move(run_dir)), rows_(std::move(earlier)) {}
  void on_epoch_end(const EpochMetrics& m, const EvaluationResult& val) override;

 private:
  std::string run_dir_;
  std::vector<EpochMetrics> rows_;
};

// Keeps summary.json current while the run goes: after every epoch, how far it got. A run whose
// summary says "running" but whose process is gone has crashed (compare and sweeps tell).
class SummaryUpdater : public TrainingCallback {
 public:
  SummaryUpdater(std::string path, RunSummary& summary)
      : path_(std::move(path)), summary_(summary) {}
  void on_epoch_end(const EpochMetrics& m, const EvaluationResult& val) override;

 private:
  std::string path_;
  RunSummary& summary_;
};

}  // namespace cifar_exp
