// The training loop, in the spirit of Keras' Model.fit: one function that runs epochs of
// shuffled mini-batches (EpochIterator) and evaluates on the test split after each, telling
// callbacks (callback.h) what happened instead of printing; checkpoints, the divergence check,
// the learning-rate schedule, early stopping and stop requests are callbacks too, which fit()
// builds from its options (callbacks.h, lr_schedule.h, early_stopping.h).
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "cifar_exp/config/config.h"
#include "cifar_exp/models/models.h"
#include "cifar_exp/training/callback.h"

namespace cifar_exp {

// Model input for the given rows of a training set held on the device: uint8 images are
// gathered and scaled to float [0, 1]; float tensors (cached features) are gathered as they are.
torch::Tensor gather_inputs(const torch::Tensor& inputs, const torch::Tensor& indices);

// A per-batch transform of float training images (augmentation), run on the training device.
using BatchTransform = std::function<torch::Tensor(const torch::Tensor&)>;

struct FitOptions {
  // The run's training section, the one place fit() and its callbacks read it from: epochs,
  // batch_size, eval_batch_size, precision (autocast in forward passes), the optimizer and its
  // settings (optimizers.h), the learning-rate schedule (lr_schedule.h), early stopping
  // (early_stopping.h).
  TrainingConfig training;
  BatchTransform augment;  // empty = none
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

// Milliseconds spent in each phase of one train_step (for `bench`).
struct StepTimes {
  double gather_ms = 0, augment_ms = 0, forward_ms = 0, backward_ms = 0, optimizer_ms = 0,
         metrics_ms = 0;
};

// One training step as fit() runs it: gathers `indices` of (inputs, labels), augments, runs the
// forward pass (under options.training.precision) and the fp32 loss, backward, the optimizer
// step, and adds to `progress` (whose batch and seen counts advance, and whose `loss` is this
// batch's). With `times`, each phase is timed (waiting for CUDA between phases).
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
