// fit(), train_step() and evaluate() (fit.h).
#include "cifar_exp/training/fit.h"

#include <chrono>
#include <cmath>
#include <limits>

#include <c10/core/DeviceGuard.h>

#include "cifar_exp/data/data.h"
#include "cifar_exp/data/device.h"
#include "cifar_exp/io/errors.h"
#include "cifar_exp/models/kernels/autocast.h"
#include "cifar_exp/training/callbacks.h"
#include "cifar_exp/training/early_stopping.h"
#include "cifar_exp/training/lr_schedule.h"
#include "cifar_exp/training/optimizers.h"
#include "cifar_exp/training/trained_state.h"

namespace cifar_exp {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

torch::Tensor as_model_input(const torch::Tensor& inputs) {
  if (inputs.scalar_type() == torch::kUInt8) return inputs.to(torch::kFloat32).div_(255.0);
  return inputs;
}

}  // namespace

torch::Tensor gather_inputs(const torch::Tensor& inputs, const torch::Tensor& indices) {
  if (inputs.scalar_type() == torch::kUInt8) return to_float_batch(inputs, indices);
  return inputs.index_select(0, indices);
}

FitOptions FitOptions::from_config(const TrainingConfig& c) {
  FitOptions o;
  o.training = c;
  return o;
}

EvaluationResult evaluate(ClassifierImpl& model, const torch::Tensor& images,
                          const torch::Tensor& labels, int64_t batch_size, Precision precision) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const int64_t n = images.size(0);
  const auto device = images.device();
  c10::OptionalDeviceGuard device_guard;
  if (device.is_cuda()) device_guard.reset_device(device);
  batch_size = model.inference_batch_size(batch_size);
  auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
  // The confusion matrix flattened (true * classes + predicted), accumulated on the device and
  // read back once: bincount would read its input's min and max back every batch.
  const auto counts = torch::TensorOptions().dtype(torch::kInt64).device(device);
  auto pairs = torch::zeros({kNumClasses * kNumClasses}, counts);
  const auto ones = torch::ones({std::min(batch_size, n)}, counts);
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t count = std::min(batch_size, n - start);
    auto x = as_model_input(images.narrow(0, start, count));
    auto y = labels.narrow(0, start, count);
    torch::Tensor logits;
    try {
      AutocastScope autocast(device, precision);
      logits = model.forward(x).to(torch::kFloat32);
    } catch (const c10::Error& e) {
      if (!is_out_of_memory(e)) throw;
      throw OutOfMemoryError(
          "out of memory on " + device.str() + " evaluating a batch of " + std::to_string(count) +
          " images: lower training.eval_batch_size (now " + std::to_string(batch_size) + ")");
    }
    loss_sum +=
        torch::nn::functional::cross_entropy(
            logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
            .to(torch::kFloat64);
    auto predicted = logits.argmax(1);
    pairs.index_add_(0, y * kNumClasses + predicted, ones.narrow(0, 0, count));
  }
  model.train(was_training);
  EvaluationResult result;
  result.confusion = pairs.view({kNumClasses, kNumClasses}).cpu();
  const double correct = double(result.confusion.diagonal().sum().item<int64_t>());
  result.loss = n == 0 ? 0.0 : loss_sum.item<double>() / double(n);
  result.accuracy = n == 0 ? 0.0 : correct / double(n);
  return result;
}

torch::Tensor train_step(ClassifierImpl& model, torch::optim::Optimizer& optimizer,
                         const torch::Tensor& inputs, const torch::Tensor& labels,
                         const torch::Tensor& indices, const FitOptions& options,
                         BatchProgress& progress, StepTimes* times) {
  const auto device = inputs.device();
  // Phase boundaries, only when timing: CUDA work is asynchronous, so each mark waits for it.
  auto last = Clock::now();
  auto mark = [&](double StepTimes::*phase) {
    if (!times) return;
    synchronize(device);
    const auto now = Clock::now();
    times->*phase = std::chrono::duration<double, std::milli>(now - last).count();
    last = now;
  };
  auto x = gather_inputs(inputs, indices);
  auto y = labels.index_select(0, indices);
  mark(&StepTimes::gather_ms);
  if (options.augment) x = options.augment(x);
  mark(&StepTimes::augment_ms);

  optimizer.zero_grad();
  torch::Tensor logits;
  {
    AutocastScope autocast(device, options.training.precision);
    logits = model.forward(x);
  }
  // The loss in fp32 whatever the forward pass ran in (a no-op for fp32 logits).
  auto loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), y);
  mark(&StepTimes::forward_ms);
  loss.backward();
  mark(&StepTimes::backward_ms);
  optimizer.step();
  mark(&StepTimes::optimizer_ms);

  const int64_t count = indices.size(0);
  {
    torch::NoGradGuard no_grad;
    progress.loss_sum += loss.detach() * double(count);
    progress.correct += logits.argmax(1).eq(y).sum();
  }
  progress.batch += 1;
  progress.seen += count;
  progress.loss = loss.detach();
  mark(&StepTimes::metrics_ms);
  return loss;
}

namespace {

[[noreturn]] void throw_training_out_of_memory(const torch::Device& device, int64_t batch_size) {
  throw OutOfMemoryError("out of memory on " + device.str() + " in a training batch of " +
                         std::to_string(batch_size) +
                         " images: lower training.batch_size (--batch-size)");
}

// The epoch's order and running totals: fresh, or as the checkpoint left them mid-epoch.
void begin_epoch(FitState& s, int64_t epoch) {
  s.epoch_start = Clock::now();
  s.earlier_epoch_seconds = 0;
  BatchProgress& progress = s.progress;
  progress = BatchProgress{};
  progress.epoch = epoch;
  progress.num_batches = s.batches.batches_per_epoch();
  const TrainingState& start = s.start;
  if (epoch == start.epoch && start.batches_done > 0) {
    s.batches.resume(start.order, start.batches_done);
    progress.loss_sum = start.loss_sum.to(s.device);
    progress.correct = start.correct.to(s.device);
    progress.batch = start.batches_done;
    progress.seen = std::min(s.batches.size(), start.batches_done * s.training.batch_size);
    // Stopped after the epoch's last batch, the epoch trains no step now that would set it.
    progress.learning_rate = start.learning_rate;
    s.earlier_epoch_seconds = start.epoch_seconds;
  } else {
    s.batches.shuffle();
    progress.loss_sum =
        torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat32).device(s.device));
    progress.correct =
        torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64).device(s.device));
  }
}

// Trains the epoch's remaining batches, or until a callback sets stop_training.
void train_epoch(FitState& s, const FitOptions& options,
                 const std::vector<TrainingCallback*>& callbacks, const torch::Tensor& images,
                 const torch::Tensor& labels) {
  s.model.train();
  while (!s.batches.done() && !s.stop_training) {
    try {
      s.progress.learning_rate = learning_rate(s.optimizer);
      train_step(s.model, s.optimizer, images, labels, s.batches.next(), options, s.progress);
    } catch (const c10::Error& e) {
      if (is_out_of_memory(e)) throw_training_out_of_memory(s.device, s.training.batch_size);
      throw;
    }
    for (auto* cb : callbacks) cb->on_batch_end(s.progress);
  }
  // CUDA works asynchronously: the epoch has trained when the device has finished it.
  synchronize(s.device);
  const double session_seconds = seconds_since(s.epoch_start);
  s.history.train_seconds += session_seconds;
  s.epoch_train_seconds = s.earlier_epoch_seconds + session_seconds;
}

// The epoch's metrics and the validation inputs' evaluation (if any), told to the callbacks.
void end_epoch(FitState& s, const FitOptions& options,
               const std::vector<TrainingCallback*>& callbacks, const torch::Tensor& val_images,
               const torch::Tensor& val_labels) {
  const int64_t n = s.batches.size();
  EpochMetrics m;
  m.epoch = s.progress.epoch;
  m.train_loss = s.progress.loss_sum.item<double>() / double(n);
  m.train_accuracy = double(s.progress.correct.item<int64_t>()) / double(n);
  ClassifierImpl& evaluated = options.evaluation_model ? *options.evaluation_model : s.model;
  EvaluationResult val;
  m.val_loss = m.val_accuracy = std::numeric_limits<double>::quiet_NaN();
  if (val_images.defined()) {
    val = evaluate(evaluated, val_images, val_labels, s.training.eval_batch_size,
                   s.training.precision);
    m.val_loss = val.loss;
    m.val_accuracy = val.accuracy;
  }
  m.seconds = s.earlier_epoch_seconds + seconds_since(s.epoch_start);
  m.images_per_second = double(n) / s.epoch_train_seconds;
  m.learning_rate = s.progress.learning_rate;
  s.history.epochs.push_back(m);
  s.history.last_validation = val;
  for (auto* cb : callbacks) cb->on_epoch_end(m, val);
}

}  // namespace

History fit(ClassifierImpl& model, const torch::Tensor& train_images,
            const torch::Tensor& train_labels, const torch::Tensor& val_images,
            const torch::Tensor& val_labels, const FitOptions& options) {
  c10::OptionalDeviceGuard device_guard;
  if (train_images.is_cuda()) device_guard.reset_device(train_images.device());
  const auto optimizer = make_optimizer(trainable_parameters(model), options.training);
  FitState s(model, *optimizer, options.training, train_images.size(0), train_images.device());

  // fit()'s own callbacks around the caller's, in the order they must act (callbacks.h).
  DivergenceCheck divergence;
  BestEpochKeeper best(options.training, options.keep_best_weights);
  std::optional<Checkpointer> checkpointer;
  if (!options.checkpoint_path.empty() || !options.resume_from.empty()) {
    checkpointer.emplace(options.checkpoint_path, options.resume_from, options.augment_generator);
  }
  std::optional<StopOnRequest> stop;
  if (options.stop_requested) stop.emplace(*options.stop_requested);
  LearningRateScheduler scheduler(options.training);
  // The best epoch before the checkpointer, so that a checkpoint holds the best weights so far.
  std::vector<TrainingCallback*> callbacks{&divergence, &best};
  if (checkpointer) callbacks.push_back(&*checkpointer);
  callbacks.push_back(&scheduler);
  callbacks.insert(callbacks.end(), options.callbacks.begin(), options.callbacks.end());
  if (stop) callbacks.push_back(&*stop);

  for (auto* cb : callbacks) cb->attach(&s);
  // A resumed run's epochs, before any callback begins: each sees the run's whole history.
  if (checkpointer) checkpointer->restore();
  const int64_t epochs = options.training.epochs;
  for (auto* cb : callbacks) cb->on_train_begin(epochs, s.batches.batches_per_epoch());
  for (int64_t epoch = s.start.epoch; epoch <= epochs && !s.history.stopped_early; ++epoch) {
    begin_epoch(s, epoch);
    train_epoch(s, options, callbacks, train_images, train_labels);
    if (s.stop_training) {
      s.history.interrupted = true;
      s.history.stopped_at_epoch = epoch;
      s.history.stopped_at_batch = s.batches.batches_done();
      break;
    }
    end_epoch(s, options, callbacks, val_images, val_labels);
  }
  for (auto* cb : callbacks) cb->on_train_end(s.history);
  return s.history;
}

}  // namespace cifar_exp
