// The training loop, in the spirit of Keras' Model.fit: one function that runs epochs of
// shuffled mini-batches (EpochIterator) and evaluates on the test split after each, telling
// callbacks what happened instead of printing; checkpoints, the divergence check and stop
// requests are callbacks too (callbacks.h).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "cifar_exp/autocast.h"
#include "cifar_exp/config.h"
#include "cifar_exp/device.h"
#include "cifar_exp/models.h"
#include "cifar_exp/run_summary.h"

namespace cifar_exp {

// Model input for the given rows of a training set held on the device: uint8 images are
// gathered and scaled to float [0, 1]; float tensors (cached features) are gathered as they are.
torch::Tensor gather_inputs(const torch::Tensor& inputs, const torch::Tensor& indices);

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

// The batches of one epoch, as row indices on the training device: a fresh shuffle drawn from
// torch's global CPU generator (seeded by the run, so the order is the same on every device),
// or a resumed epoch's saved order from the batch where it stopped.
class EpochIterator {
 public:
  EpochIterator(int64_t size, int64_t batch_size, torch::Device device);
  void shuffle();
  void resume(const torch::Tensor& order, int64_t batches_done);
  bool done() const { return batch_ >= batches_per_epoch(); }
  torch::Tensor next();  // the next batch's indices; advances
  int64_t batches_done() const { return batch_; }
  int64_t batches_per_epoch() const { return (size_ + batch_size_ - 1) / batch_size_; }
  int64_t size() const { return size_; }
  const torch::Tensor& order() const { return order_; }

 private:
  int64_t size_, batch_size_, batch_ = 0;
  torch::Device device_;
  torch::Tensor order_;
};

struct FitOptions;

// A running fit(), as its callbacks see it and may change it.
struct FitState {
  FitState(ClassifierImpl& model, torch::optim::Optimizer& optimizer, const FitOptions& options,
           int64_t train_size, torch::Device device);
  ClassifierImpl& model;
  torch::optim::Optimizer& optimizer;
  const FitOptions& options;
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
// requests), see FitOptions.
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

// A per-batch transform of float training images (augmentation), run on the training device.
using BatchTransform = std::function<torch::Tensor(const torch::Tensor&)>;

struct FitOptions {
  int64_t epochs = 10;
  int64_t batch_size = 64;
  int64_t eval_batch_size = 1000;
  // The optimizer and its settings: training.optimizer and its keys (optimizers.h).
  TrainingConfig optimizer_settings;
  Precision precision = Precision::kFp32;  // autocast in forward passes
  BatchTransform augment;                  // empty = none
  std::vector<TrainingCallback*> callbacks;
  // Shorthands for fit()'s own callbacks (callbacks.h). stop_requested (e.g. set by a signal
  // handler): StopOnRequest, after the listed callbacks. checkpoint_path (written atomically
  // after every epoch and when stopped) and resume_from (a checkpoint to continue from):
  // Checkpointer, before them, after DivergenceCheck.
  const std::atomic<bool>* stop_requested = nullptr;
  std::string checkpoint_path;
  std::string resume_from;
  // The augmenter's generator, whose state goes into checkpoints (undefined = none).
  at::Generator augment_generator;
  // What evaluates the validation inputs after each epoch when they are not images (a frozen
  // backbone's head on test features computed once); nullptr: the trained model.
  ClassifierImpl* evaluation_model = nullptr;
  // Copy the best epoch's weights into History::best_weights (for model.best.pt); they are kept
  // anyway with training.early_stopping.restore_best_weights.
  bool keep_best_weights = false;

  static FitOptions from_config(const TrainingConfig& config);
};

// The parameters the optimizer updates (a frozen backbone's are left out).
std::vector<torch::Tensor> trainable_parameters(const torch::nn::Module& model);

// What training changes of `model`: its trainable parameters, then its buffers, detached copies
// in named_parameters()/named_buffers() order. load_trained_state() copies them back into a
// model of the same architecture (std::invalid_argument when they do not fit).
std::vector<torch::Tensor> trained_state(const torch::nn::Module& model);
void load_trained_state(torch::nn::Module& model, const std::vector<torch::Tensor>& state);

// Milliseconds spent in each phase of one train_step (for `bench`).
struct StepTimes {
  double gather_ms = 0, augment_ms = 0, forward_ms = 0, backward_ms = 0, optimizer_ms = 0,
         metrics_ms = 0;
};

// One training step as fit() runs it: gathers `indices` of (inputs, labels), augments, runs the
// forward pass (under options.precision) and the fp32 loss, backward, the optimizer step, and
// adds to `progress` (whose batch and seen counts advance, and whose `loss` is this batch's).
// With `times`, each phase is timed (waiting for CUDA between phases).
torch::Tensor train_step(ClassifierImpl& model, torch::optim::Optimizer& optimizer,
                         const torch::Tensor& inputs, const torch::Tensor& labels,
                         const torch::Tensor& indices, const FitOptions& options,
                         BatchProgress& progress, StepTimes* times = nullptr);

// Trains `model` on (train_images, train_labels) and evaluates on (val_images, val_labels) after
// every epoch (the test split, a held-out part of the training data, or nothing when val_images
// is undefined: val metrics are then NaN, "not recorded"), from epoch 1 or from where a
// checkpoint stopped (options.resume_from). Inputs are on the
// training device: uint8 images N x 3 x 32 x 32 (scaled to [0, 1] per batch), or float tensors used
// as they are (cached backbone features for a head). Shuffling draws from torch's global generator,
// so seeding it beforehand makes the run reproducible.
History fit(ClassifierImpl& model, const torch::Tensor& train_images,
            const torch::Tensor& train_labels, const torch::Tensor& val_images,
            const torch::Tensor& val_labels, const FitOptions& options);

// Loss, accuracy and confusion matrix of `model` in inference mode, in batches of
// model.inference_batch_size(batch_size). OutOfMemoryError naming training.eval_batch_size when
// a batch does not fit on the device.
EvaluationResult evaluate(ClassifierImpl& model, const torch::Tensor& images,
                          const torch::Tensor& labels, int64_t batch_size,
                          Precision precision = Precision::kFp32);

}  // namespace cifar_exp
