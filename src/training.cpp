// fit(), train_step(), evaluate() and the EpochIterator (training.h).
#include "cifar_exp/training.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <mutex>

#include <c10/core/DeviceGuard.h>

#include "cifar_exp/callbacks.h"
#include "cifar_exp/checkpoint.h"
#include "cifar_exp/data.h"
#include "cifar_exp/early_stopping.h"
#include "cifar_exp/errors.h"
#include "cifar_exp/lr_schedule.h"
#include "cifar_exp/optimizers.h"

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

std::vector<double> EvaluationResult::per_class_accuracy() const {
  std::vector<double> result;
  if (!confusion.defined()) return result;
  auto rows = confusion.sum(1);
  for (int64_t c = 0; c < confusion.size(0); ++c) {
    const int64_t total = rows[c].item<int64_t>();
    result.push_back(total == 0 ? 0.0 : double(confusion[c][c].item<int64_t>()) / double(total));
  }
  return result;
}

std::vector<std::vector<int64_t>> EvaluationResult::confusion_rows() const {
  std::vector<std::vector<int64_t>> rows;
  if (!confusion.defined()) return rows;
  auto m = confusion.to(torch::kCPU, torch::kInt64).contiguous();
  for (int64_t r = 0; r < m.size(0); ++r) {
    rows.emplace_back(m[r].data_ptr<int64_t>(), m[r].data_ptr<int64_t>() + m.size(1));
  }
  return rows;
}

FitOptions FitOptions::from_config(const TrainingConfig& c) {
  FitOptions o;
  o.epochs = c.epochs;
  o.batch_size = c.batch_size;
  o.eval_batch_size = c.eval_batch_size;
  o.optimizer_settings = c;
  o.precision = c.precision;
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

std::vector<torch::Tensor> trainable_parameters(const torch::nn::Module& model) {
  std::vector<torch::Tensor> trainable;
  for (const auto& p : model.parameters()) {
    if (p.requires_grad()) trainable.push_back(p);
  }
  return trainable;
}

namespace {

// The tensors trained_state() holds, as live references.
std::vector<torch::Tensor> trained_tensors(const torch::nn::Module& model) {
  std::vector<torch::Tensor> tensors = trainable_parameters(model);
  for (const auto& b : model.buffers()) tensors.push_back(b);
  return tensors;
}

}  // namespace

std::vector<torch::Tensor> trained_state(const torch::nn::Module& model) {
  std::vector<torch::Tensor> copies;
  for (const auto& t : trained_tensors(model)) copies.push_back(t.detach().clone());
  return copies;
}

void load_trained_state(torch::nn::Module& model, const std::vector<torch::Tensor>& state) {
  const std::vector<torch::Tensor> targets = trained_tensors(model);
  bool fits = targets.size() == state.size();
  for (size_t i = 0; fits && i < targets.size(); ++i) {
    fits = targets[i].sizes() == state[i].sizes();
  }
  if (!fits) throw std::invalid_argument("saved weights do not fit the model");
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < targets.size(); ++i) targets[i].copy_(state[i]);
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
    AutocastScope autocast(device, options.precision);
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

EpochIterator::EpochIterator(int64_t size, int64_t batch_size, torch::Device device)
    : size_(size), batch_size_(batch_size), device_(device) {}

void EpochIterator::shuffle() {
  order_ = upload(torch::randperm(size_, torch::kInt64), device_);
  batch_ = 0;
}

void EpochIterator::resume(const torch::Tensor& order, int64_t batches_done) {
  order_ = upload(order, device_);
  batch_ = batches_done;
}

torch::Tensor EpochIterator::next() {
  const int64_t start = batch_ * batch_size_;
  ++batch_;
  return order_.narrow(0, start, std::min(batch_size_, size_ - start));
}

FitState::FitState(ClassifierImpl& model, torch::optim::Optimizer& optimizer,
                   const FitOptions& options, int64_t train_size, torch::Device device)
    : model(model),
      optimizer(optimizer),
      options(options),
      device(device),
      batches(train_size, options.batch_size, device) {}

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
    progress.seen = std::min(s.batches.size(), start.batches_done * s.options.batch_size);
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
void train_epoch(FitState& s, const std::vector<TrainingCallback*>& callbacks,
                 const torch::Tensor& images, const torch::Tensor& labels) {
  s.model.train();
  while (!s.batches.done() && !s.stop_training) {
    try {
      s.progress.learning_rate = learning_rate(s.optimizer);
      train_step(s.model, s.optimizer, images, labels, s.batches.next(), s.options, s.progress);
    } catch (const c10::Error& e) {
      if (is_out_of_memory(e)) throw_training_out_of_memory(s.device, s.options.batch_size);
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
void end_epoch(FitState& s, const std::vector<TrainingCallback*>& callbacks,
               const torch::Tensor& val_images, const torch::Tensor& val_labels) {
  const int64_t n = s.batches.size();
  EpochMetrics m;
  m.epoch = s.progress.epoch;
  m.train_loss = s.progress.loss_sum.item<double>() / double(n);
  m.train_accuracy = double(s.progress.correct.item<int64_t>()) / double(n);
  ClassifierImpl& evaluated = s.options.evaluation_model ? *s.options.evaluation_model : s.model;
  EvaluationResult val;
  m.val_loss = m.val_accuracy = std::numeric_limits<double>::quiet_NaN();
  if (val_images.defined()) {
    val =
        evaluate(evaluated, val_images, val_labels, s.options.eval_batch_size, s.options.precision);
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
  const auto optimizer = make_optimizer(trainable_parameters(model), options.optimizer_settings);
  FitState s(model, *optimizer, options, train_images.size(0), train_images.device());

  // fit()'s own callbacks around the caller's, in the order they must act (callbacks.h).
  DivergenceCheck divergence;
  BestEpochKeeper best(options.optimizer_settings, options.keep_best_weights);
  std::optional<Checkpointer> checkpointer;
  if (!options.checkpoint_path.empty() || !options.resume_from.empty()) {
    checkpointer.emplace(options.checkpoint_path, options.resume_from, options.augment_generator);
  }
  std::optional<StopOnRequest> stop;
  if (options.stop_requested) stop.emplace(*options.stop_requested);
  LearningRateScheduler scheduler(options.optimizer_settings);
  // The best epoch before the checkpointer, so that a checkpoint holds the best weights so far.
  std::vector<TrainingCallback*> callbacks{&divergence, &best};
  if (checkpointer) callbacks.push_back(&*checkpointer);
  callbacks.push_back(&scheduler);
  callbacks.insert(callbacks.end(), options.callbacks.begin(), options.callbacks.end());
  if (stop) callbacks.push_back(&*stop);

  for (auto* cb : callbacks) cb->attach(&s);
  // A resumed run's epochs, before any callback begins: each sees the run's whole history.
  if (checkpointer) checkpointer->restore();
  for (auto* cb : callbacks) cb->on_train_begin(options.epochs, s.batches.batches_per_epoch());
  for (int64_t epoch = s.start.epoch; epoch <= options.epochs && !s.history.stopped_early;
       ++epoch) {
    begin_epoch(s, epoch);
    train_epoch(s, callbacks, train_images, train_labels);
    if (s.stop_training) {
      s.history.interrupted = true;
      s.history.stopped_at_epoch = epoch;
      s.history.stopped_at_batch = s.batches.batches_done();
      break;
    }
    end_epoch(s, callbacks, val_images, val_labels);
  }
  for (auto* cb : callbacks) cb->on_train_end(s.history);
  return s.history;
}

}  // namespace cifar_exp
