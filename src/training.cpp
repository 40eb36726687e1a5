#include "cifar_exp/training.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <mutex>

#include <ATen/autocast_mode.h>
#include <c10/core/DeviceGuard.h>
#include <torch/version.h>

#include "cifar_exp/checkpoint.h"
#include "cifar_exp/data.h"
#include "cifar_exp/errors.h"

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

// libtorch 2.4 replaced the per-device autocast functions with ones taking a device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define CIFAR_EXP_AUTOCAST_BY_DEVICE_TYPE 1
#endif

AutocastScope::AutocastScope(const torch::Device& device, const std::string& precision) {
  if (precision != "bf16") return;
  active_ = true;
  device_type_ = device.type();
#ifdef CIFAR_EXP_AUTOCAST_BY_DEVICE_TYPE
  was_enabled_ = at::autocast::is_autocast_enabled(device_type_);
  previous_dtype_ = at::autocast::get_autocast_dtype(device_type_);
  at::autocast::set_autocast_dtype(device_type_, at::kBFloat16);
  at::autocast::set_autocast_enabled(device_type_, true);
#else
  if (device_type_ == torch::kCUDA) {
    was_enabled_ = at::autocast::is_enabled();
    previous_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    was_enabled_ = at::autocast::is_cpu_enabled();
    previous_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
#endif
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // Casts of the weights are cached while autocast is on; drop them when the outermost scope
  // ends, as torch.autocast does, so that updated weights are cast afresh next time.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#ifdef CIFAR_EXP_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_enabled(device_type_, was_enabled_);
  at::autocast::set_autocast_dtype(device_type_, previous_dtype_);
#else
  if (device_type_ == torch::kCUDA) {
    at::autocast::set_enabled(was_enabled_);
    at::autocast::set_autocast_gpu_dtype(previous_dtype_);
  } else {
    at::autocast::set_cpu_enabled(was_enabled_);
    at::autocast::set_autocast_cpu_dtype(previous_dtype_);
  }
#endif
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

FitOptions FitOptions::from_config(const TrainingConfig& c) {
  FitOptions o;
  o.epochs = c.epochs;
  o.batch_size = c.batch_size;
  o.eval_batch_size = c.eval_batch_size;
  o.learning_rate = c.learning_rate;
  o.beta1 = c.beta1;
  o.beta2 = c.beta2;
  o.epsilon = c.epsilon;
  o.precision = c.precision;
  return o;
}

EvaluationResult evaluate(ClassifierImpl& model, const torch::Tensor& images,
                          const torch::Tensor& labels, int64_t batch_size,
                          const std::string& precision) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const int64_t n = images.size(0);
  const auto device = images.device();
  c10::OptionalDeviceGuard device_guard;
  if (device.is_cuda()) device_guard.reset_device(device);
  batch_size = model.inference_batch_size(batch_size);
  auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
  auto pairs = torch::zeros({kNumClasses * kNumClasses},
                            torch::TensorOptions().dtype(torch::kInt64).device(device));
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
    pairs += torch::bincount(y * kNumClasses + predicted, {}, kNumClasses * kNumClasses);
  }
  model.train(was_training);
  EvaluationResult result;
  result.confusion = pairs.view({kNumClasses, kNumClasses}).cpu();
  const double correct = double(result.confusion.diagonal().sum().item<int64_t>());
  result.loss = n == 0 ? 0.0 : loss_sum.item<double>() / double(n);
  result.accuracy = n == 0 ? 0.0 : correct / double(n);
  return result;
}

namespace {

// The generators' states now, as checkpoints store them.
void capture_rng(TrainingState& state, const at::Generator& augment_generator,
                 const torch::Device& device) {
  state.cuda_rng_state = cuda_generator_state(device);
  auto cpu = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(cpu.mutex());
    state.cpu_rng_state = cpu.get_state();
  }
  if (augment_generator.defined()) {
    auto g = augment_generator;
    std::lock_guard<std::mutex> lock(g.mutex());
    state.augment_rng_state = g.get_state();
  }
}

void restore_rng(const TrainingState& state, const at::Generator& augment_generator,
                 const torch::Device& device, const std::string& source) {
  // A checkpoint written on another kind of device has no state for this one's generator: that
  // stream (dropout on the GPU) then continues from the run's seed.
  set_cuda_generator_state(device, state.cuda_rng_state);
  auto cpu = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(cpu.mutex());
    cpu.set_state(state.cpu_rng_state);
  }
  if (augment_generator.defined() != state.augment_rng_state.defined()) {
    throw ConfigError(source + ": the checkpoint was written " +
                      (state.augment_rng_state.defined() ? "with" : "without") +
                      " augmentation, the config now says otherwise");
  }
  if (augment_generator.defined()) {
    auto g = augment_generator;
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_state(state.augment_rng_state);
  }
}

}  // namespace

std::vector<torch::Tensor> trainable_parameters(const torch::nn::Module& model) {
  std::vector<torch::Tensor> trainable;
  for (const auto& p : model.parameters()) {
    if (p.requires_grad()) trainable.push_back(p);
  }
  return trainable;
}

torch::optim::AdamOptions adam_options(const FitOptions& options) {
  return torch::optim::AdamOptions(options.learning_rate)
      .betas({options.beta1, options.beta2})
      .eps(options.epsilon);
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
  // On the CPU reading the loss costs nothing; on CUDA it would stall the queue, so there the
  // first bad batch is noted on the device and read every few batches (check_finite).
  if (device.is_cpu()) {
    if (!std::isfinite(loss.item<float>())) {
      throw DivergedError("training diverged: loss is " + std::to_string(loss.item<float>()) +
                          " at epoch " + std::to_string(progress.epoch) + ", batch " +
                          std::to_string(progress.batch));
    }
  } else {
    torch::NoGradGuard no_grad;
    if (!progress.first_nonfinite_batch.defined()) {
      progress.first_nonfinite_batch =
          torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64).device(device));
    }
    auto first_bad =
        loss.detach().isfinite().logical_not().logical_and(progress.first_nonfinite_batch.eq(0));
    progress.first_nonfinite_batch.masked_fill_(first_bad, progress.batch);
  }
  mark(&StepTimes::metrics_ms);
  return loss;
}

void check_finite(const BatchProgress& progress) {
  if (!progress.first_nonfinite_batch.defined()) return;
  const int64_t batch = progress.first_nonfinite_batch.item<int64_t>();
  if (batch > 0) {
    throw DivergedError("training diverged: loss is not finite at epoch " +
                        std::to_string(progress.epoch) + ", batch " + std::to_string(batch));
  }
}

namespace {

// Batches between divergence checks on CUDA: each check waits for the device once.
constexpr int64_t kFiniteCheckInterval = 50;

[[noreturn]] void throw_training_out_of_memory(const torch::Device& device, int64_t batch_size) {
  throw OutOfMemoryError("out of memory on " + device.str() + " in a training batch of " +
                         std::to_string(batch_size) +
                         " images: lower training.batch_size (--batch-size)");
}

}  // namespace

History fit(ClassifierImpl& model, const torch::Tensor& train_images,
            const torch::Tensor& train_labels, const torch::Tensor& test_images,
            const torch::Tensor& test_labels, const FitOptions& options) {
  const auto device = train_images.device();
  c10::OptionalDeviceGuard device_guard;
  if (device.is_cuda()) device_guard.reset_device(device);
  const int64_t n = train_images.size(0);
  const int64_t batches_per_epoch = (n + options.batch_size - 1) / options.batch_size;

  torch::optim::Adam optimizer(trainable_parameters(model), adam_options(options));

  // Where to start: epoch 1, or wherever the checkpoint stopped.
  TrainingState resumed;
  if (!options.resume_from.empty()) {
    resumed = load_checkpoint(options.resume_from, model, optimizer);
    if (resumed.batches_done > 0 && resumed.order.size(0) != n) {
      throw ConfigError(options.resume_from + ": the checkpoint's epoch covers " +
                        std::to_string(resumed.order.size(0)) + " training images, this run has " +
                        std::to_string(n));
    }
    restore_rng(resumed, options.augment_generator, device, options.resume_from);
  }
  History history;
  history.epochs = resumed.epochs;
  history.train_seconds = resumed.train_seconds;
  history.final_test = resumed.last_evaluation;

  // The state after `batches_done` batches of `epoch` (0 = the epoch has not begun).
  auto checkpoint = [&](int64_t epoch, int64_t batches_done, const BatchProgress* progress,
                        const torch::Tensor& order, double epoch_seconds) {
    if (options.checkpoint_path.empty()) return;
    TrainingState state;
    state.epoch = epoch;
    state.batches_done = batches_done;
    if (batches_done > 0) {
      state.order = order;
      state.loss_sum = progress->loss_sum;
      state.correct = progress->correct;
      state.epoch_seconds = epoch_seconds;
    }
    state.epochs = history.epochs;
    state.last_evaluation = history.final_test;
    state.train_seconds = history.train_seconds;
    capture_rng(state, options.augment_generator, device);
    save_checkpoint(options.checkpoint_path, model, optimizer, state);
  };

  for (auto* cb : options.callbacks) cb->on_train_begin(options.epochs, batches_per_epoch);

  const auto float_on_device = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  for (int64_t epoch = resumed.epoch; epoch <= options.epochs; ++epoch) {
    const auto epoch_start = Clock::now();
    model.train();
    BatchProgress progress;
    progress.epoch = epoch;
    progress.num_batches = batches_per_epoch;
    torch::Tensor order;
    int64_t first_batch = 0;
    double earlier_seconds = 0;  // spent in this epoch before a resume
    if (epoch == resumed.epoch && resumed.batches_done > 0) {
      order = upload(resumed.order, device);
      progress.loss_sum = resumed.loss_sum.to(device);
      progress.correct = resumed.correct.to(device);
      first_batch = resumed.batches_done;
      progress.batch = first_batch;
      progress.seen = std::min(n, first_batch * options.batch_size);
      earlier_seconds = resumed.epoch_seconds;
    } else {
      // Reshuffled every epoch from the global CPU generator (seeded by the run), so that the
      // order is the same on every device.
      order = upload(torch::randperm(n, torch::kInt64), device);
      progress.loss_sum = torch::zeros({}, float_on_device);
      progress.correct =
          torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64).device(device));
    }

    for (int64_t b = first_batch; b < batches_per_epoch; ++b) {
      const int64_t start = b * options.batch_size;
      const int64_t count = std::min(options.batch_size, n - start);
      try {
        train_step(model, optimizer, train_images, train_labels, order.narrow(0, start, count),
                   options, progress);
      } catch (const c10::Error& e) {
        if (is_out_of_memory(e)) throw_training_out_of_memory(device, options.batch_size);
        throw;
      }
      if ((b + 1) % kFiniteCheckInterval == 0) check_finite(progress);
      for (auto* cb : options.callbacks) cb->on_batch_end(progress);
      if (options.stop_requested && options.stop_requested->load()) {
        check_finite(progress);
        synchronize(device);
        const double spent = seconds_since(epoch_start);
        history.train_seconds += spent;
        checkpoint(epoch, b + 1, &progress, order, earlier_seconds + spent);
        history.interrupted = true;
        history.stopped_at_epoch = epoch;
        history.stopped_at_batch = b + 1;
        return history;
      }
    }
    // CUDA works asynchronously: the epoch has trained when the device has finished it.
    check_finite(progress);
    synchronize(device);
    const double session_seconds = seconds_since(epoch_start);
    const double train_seconds = earlier_seconds + session_seconds;
    history.train_seconds += session_seconds;

    EpochMetrics m;
    m.epoch = epoch;
    m.train_loss = progress.loss_sum.item<double>() / double(n);
    if (!std::isfinite(m.train_loss)) {
      throw DivergedError("training diverged: loss is not finite in epoch " +
                          std::to_string(epoch));
    }
    m.train_accuracy = double(progress.correct.item<int64_t>()) / double(n);
    auto val =
        evaluate(model, test_images, test_labels, options.eval_batch_size, options.precision);
    m.val_loss = val.loss;
    m.val_accuracy = val.accuracy;
    m.seconds = earlier_seconds + seconds_since(epoch_start);
    m.images_per_second = double(n) / train_seconds;
    history.epochs.push_back(m);
    history.final_test = val;
    checkpoint(epoch + 1, 0, nullptr, order, 0);
    for (auto* cb : options.callbacks) cb->on_epoch_end(m, val);
  }
  for (auto* cb : options.callbacks) cb->on_train_end(history);
  return history;
}

}  // namespace cifar_exp
