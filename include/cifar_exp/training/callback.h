// What fit()'s callbacks see (Keras' Callback): the TrainingCallback protocol and the running
// fit() it is attached to (FitState: the model, the optimizer, the run's training config, the
// epoch's batches and running totals, the history so far), with the types those are made of.
// The callbacks (callbacks.h, lr_schedule.h, early_stopping.h, tensorboard.h) depend on this
// header alone; fit() (fit.h), above them, builds and calls them.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <vector>

#include <torch/torch.h>

#include "cifar_exp/config/config.h"
#include "cifar_exp/models/models.h"
#include "cifar_exp/records/run_summary.h"
#include "cifar_exp/training/epoch_iterator.h"

namespace cifar_exp {

struct EvaluationResult {
  double loss = 0;
  double accuracy = 0;
  torch::Tensor confusion;  // int64 10 x 10 on the CPU, rows true class, columns predicted
  std::vector<double> per_class_accuracy() const;
  std::vector<std::vector<int64_t>> confusion_rows() const;  // as summary.json lists it
};

struct History {
  std::vector<EpochMetrics> epochs;  // completed epochs
  bool interrupted = false;          // stopped on request after `stopped_at_batch` of an epoch
  int64_t stopped_at_epoch = 0, stopped_at_batch = 0;
  // The validation inputs' evaluation after the last epoch (none without validation inputs).
  EvaluationResult last_validation;
  double train_seconds = 0;
  // The best epoch (early_stopping.h's best_criterion; 0 when the run has none) and its monitored
  // value; what training changes of the model (trained_state()) at its end, when kept
  // (FitOptions::keep_best_weights, restore_best_weights), else empty.
  int64_t best_epoch = 0;
  double best_value = std::numeric_limits<double>::quiet_NaN();
  std::vector<torch::Tensor> best_weights;
  bool stopped_early = false;          // training.early_stopping ended training
  bool restored_best_weights = false;  // the model holds best_weights (restore_best_weights)
};

// Running totals of the current epoch, kept on the training device so that no batch has to wait
// for the host; a callback that wants numbers calls .item() on them when it needs to.
struct BatchProgress {
  int64_t epoch = 0, batch = 0, num_batches = 0, seen = 0;
  torch::Tensor loss_sum, correct;
  torch::Tensor loss;  // the last batch's mean loss (on the device)
  double learning_rate = std::numeric_limits<double>::quiet_NaN();  // the last step's
  // On CUDA: the 1-based number of the first batch of the epoch whose loss was not finite, or
  // 0; kept on the device and read every few batches, so divergence is caught without a
  // per-batch wait and still names its batch. (On the CPU each loss is checked at once.)
  torch::Tensor first_nonfinite_batch;
};

// Where training stands, beyond the model and optimizer: enough to continue a run so that it ends
// exactly as if it had never stopped (on the CPU, same thread count). Saved in checkpoint.pt.
struct TrainingState {
  int64_t epoch = 1;         // the epoch to run next, or the one in progress
  int64_t batches_done = 0;  // batches of `epoch` already trained (0 = not started)
  torch::Tensor order;       // `epoch`'s shuffle, when batches_done > 0
  torch::Tensor loss_sum;    // its running totals, when batches_done > 0
  torch::Tensor correct;
  // The rate of `epoch`'s last step so far, when batches_done > 0 (the epoch's learning_rate
  // when all its batches are done and only its end is left); NaN when not recorded.
  double learning_rate = std::numeric_limits<double>::quiet_NaN();
  double epoch_seconds = 0;          // training time already spent in `epoch`
  std::vector<EpochMetrics> epochs;  // completed epochs
  EvaluationResult last_evaluation;  // the validation inputs after the last completed epoch
  double train_seconds = 0;
  torch::Tensor cpu_rng_state;      // torch's default CPU generator (shuffling, dropout)
  torch::Tensor augment_rng_state;  // the augmenter's generator; undefined without augmentation
  torch::Tensor cuda_rng_state;     // the training GPU's generator (dropout); undefined on the CPU
  std::vector<torch::Tensor> best_weights;  // History::best_weights; empty when not kept
};

// A running fit(), as its callbacks see it and may change it.
struct FitState {
  FitState(ClassifierImpl& model, torch::optim::Optimizer& optimizer,
           const TrainingConfig& training, int64_t train_size, torch::Device device);
  ClassifierImpl& model;
  torch::optim::Optimizer& optimizer;
  // The run's training config (FitOptions::training): epochs, batch size, optimizer, schedule,
  // early stopping.
  const TrainingConfig& training;
  torch::Device device;
  EpochIterator batches;   // the current epoch's order and position
  BatchProgress progress;  // the current epoch's running totals
  History history;         // completed epochs, including those before a resume
  // Where to start: epoch 1, or what a checkpoint held (Checkpointer sets it in on_train_begin).
  TrainingState start;
  std::chrono::steady_clock::time_point epoch_start;
  double earlier_epoch_seconds = 0;  // spent in the current epoch before a resume
  double epoch_train_seconds = 0;    // its training time, once training stops or the epoch ends
  // Set by a callback to stop after the current batch (Keras' model.stop_training): fit then
  // marks the history interrupted and ends with on_train_end.
  bool stop_training = false;
};

// Told what happens during fit(), in the order they are listed; fit() puts its own first
// (divergence check, the best epoch, checkpoints, the learning-rate schedule) and last (stop
// requests), see FitOptions (fit.h).
class TrainingCallback {
 public:
  virtual ~TrainingCallback() = default;
  virtual void on_train_begin(int64_t /*epochs*/, int64_t /*batches_per_epoch*/) {}
  virtual void on_batch_end(const BatchProgress& /*progress*/) {}
  virtual void on_epoch_end(const EpochMetrics& /*metrics*/, const EvaluationResult& /*val*/) {}
  // After the last epoch, or when training stopped (history.interrupted).
  virtual void on_train_end(const History& /*history*/) {}
  // Called by fit() before on_train_begin (Keras' set_model).
  void attach(FitState* state) { state_ = state; }

 protected:
  FitState& fit_state() const { return *state_; }

 private:
  FitState* state_ = nullptr;
};

}  // namespace cifar_exp
