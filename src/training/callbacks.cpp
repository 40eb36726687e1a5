// The training callbacks (callbacks.h).
#include "cifar_exp/training/callbacks.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <mutex>

#include "cifar_exp/data/device.h"
#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/files.h"
#include "cifar_exp/io/logging.h"
#include "cifar_exp/records/run_folder.h"
#include "cifar_exp/training/checkpoint.h"
#include "cifar_exp/training/early_stopping.h"

namespace fs = std::filesystem;

namespace cifar_exp {

void check_finite(const BatchProgress& progress) {
  if (!progress.first_nonfinite_batch.defined()) return;
  const int64_t batch = progress.first_nonfinite_batch.item<int64_t>();
  if (batch > 0) {
    throw DivergedError("training diverged: loss is not finite at epoch " +
                        std::to_string(progress.epoch) + ", batch " + std::to_string(batch));
  }
}

void DivergenceCheck::on_batch_end(const BatchProgress& progress) {
  const torch::Tensor& loss = progress.loss;
  if (loss.device().is_cpu()) {
    const float value = loss.item<float>();
    if (!std::isfinite(value)) {
      throw DivergedError("training diverged: loss is " + std::to_string(value) + " at epoch " +
                          std::to_string(progress.epoch) + ", batch " +
                          std::to_string(progress.batch));
    }
    return;
  }
  torch::NoGradGuard no_grad;
  BatchProgress& noted = fit_state().progress;
  if (!noted.first_nonfinite_batch.defined()) {
    noted.first_nonfinite_batch =
        torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64).device(loss.device()));
  }
  auto first_bad = loss.isfinite().logical_not().logical_and(noted.first_nonfinite_batch.eq(0));
  noted.first_nonfinite_batch.masked_fill_(first_bad, progress.batch);
  if (progress.batch % kCheckInterval == 0) check_finite(progress);
}

void DivergenceCheck::on_epoch_end(const EpochMetrics& m, const EvaluationResult& val) {
  check_finite(fit_state().progress);
  if (!std::isfinite(m.train_loss)) {
    throw DivergedError("training diverged: loss is not finite in epoch " +
                        std::to_string(m.epoch));
  }
  // The validation figures (none without validation, whose NaN means "not recorded").
  if (val.confusion.defined())
    check_evaluation_finite(val, "val_", "in epoch " + std::to_string(m.epoch));
}

void check_evaluation_finite(const EvaluationResult& result, const std::string& prefix,
                             const std::string& when) {
  for (const auto& [name, value] : {std::pair<const char*, double>{"loss", result.loss},
                                    std::pair<const char*, double>{"accuracy", result.accuracy}}) {
    if (std::isfinite(value)) continue;
    const std::string is = std::isnan(value) ? "nan" : std::string(value > 0 ? "" : "-") + "inf";
    throw DivergedError("training diverged: " + prefix + name + " is " + is + " " + when);
  }
}

void DivergenceCheck::on_train_end(const History&) { check_finite(fit_state().progress); }

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

Checkpointer::Checkpointer(std::string path, std::string resume_from,
                           at::Generator augment_generator)
    : path_(std::move(path)),
      resume_from_(std::move(resume_from)),
      augment_generator_(std::move(augment_generator)) {}

void Checkpointer::restore() {
  if (resume_from_.empty()) return;
  FitState& s = fit_state();
  TrainingState state = load_checkpoint(resume_from_, s.model, s.optimizer);
  if (state.batches_done > 0 && state.order.size(0) != s.batches.size()) {
    throw ConfigError(resume_from_ + ": the checkpoint's epoch covers " +
                      std::to_string(state.order.size(0)) + " training images, this run has " +
                      std::to_string(s.batches.size()));
  }
  restore_rng(state, augment_generator_, s.device, resume_from_);
  s.history.epochs = state.epochs;
  s.history.train_seconds = state.train_seconds;
  s.history.last_validation = state.last_evaluation;
  s.history.best_weights = state.best_weights;
  s.start = std::move(state);
}

// The state after `batches_done` batches of `epoch` (0 = the epoch has not begun).
void Checkpointer::save(int64_t epoch, int64_t batches_done) {
  if (path_.empty()) return;
  const FitState& s = fit_state();
  TrainingState state;
  state.epoch = epoch;
  state.batches_done = batches_done;
  if (batches_done > 0) {
    state.order = s.batches.order();
    state.loss_sum = s.progress.loss_sum;
    state.correct = s.progress.correct;
    state.learning_rate = s.progress.learning_rate;
    state.epoch_seconds = s.epoch_train_seconds;
  }
  state.epochs = s.history.epochs;
  state.last_evaluation = s.history.last_validation;
  state.train_seconds = s.history.train_seconds;
  state.best_weights = s.history.best_weights;
  capture_rng(state, augment_generator_, s.device);
  save_checkpoint(path_, s.model, s.optimizer, state);
}

void Checkpointer::on_epoch_end(const EpochMetrics& m, const EvaluationResult&) {
  save(m.epoch + 1, 0);
}

void Checkpointer::on_train_end(const History& history) {
  if (history.interrupted) save(history.stopped_at_epoch, history.stopped_at_batch);
}

void StopOnRequest::on_batch_end(const BatchProgress&) {
  if (requested_.load()) fit_state().stop_training = true;
}

void EpochLogger::on_train_begin(int64_t epochs, int64_t batches_per_epoch) {
  epochs_ = epochs;
  logger_->info("Training {} epochs of {} batches", epochs, batches_per_epoch);
}

void EpochLogger::on_epoch_end(const EpochMetrics& m, const EvaluationResult&) {
  // Without validation (training.validation "none") there are no val figures to tell.
  const std::string val =
      std::isnan(m.val_accuracy)
          ? ""
          : fmt::format(", val_loss {:.4f}, val_accuracy {}, val_error {}", m.val_loss,
                        percent(m.val_accuracy), percent(m.val_error()));
  const std::string rate =
      std::isnan(m.learning_rate) ? "" : fmt::format(", lr {:.3g}", m.learning_rate);
  logger_->info("Epoch {}/{}: loss {:.4f}, accuracy {}, error {}{}{} ({:.1f} s, {:.0f} images/s)",
                m.epoch, epochs_, m.train_loss, percent(m.train_accuracy), percent(m.train_error()),
                val, rate, m.seconds, m.images_per_second);
}

void EpochLogger::on_train_end(const History& history) {
  const TrainingConfig& settings = fit_state().training;
  const auto& early_stopping = settings.early_stopping;
  const auto criterion = best_criterion(settings);
  if (history.stopped_early && early_stopping && early_stopping->baseline && criterion &&
      !improves_on(*criterion, history.best_value, *early_stopping->baseline)) {
    logger_->info(
        "Early stopping after epoch {}: {} has not improved on the baseline {} (best {:.4f}, "
        "epoch {})",
        history.epochs.back().epoch, to_string(early_stopping->monitor), *early_stopping->baseline,
        history.best_value, history.best_epoch);
  } else if (history.stopped_early && early_stopping) {
    logger_->info(
        "Early stopping after epoch {}: {} has not improved on {:.4f} (epoch {}) for {} "
        "epoch(s)",
        history.epochs.back().epoch, to_string(early_stopping->monitor), history.best_value,
        history.best_epoch, history.epochs.back().epoch - history.best_epoch);
  }
  if (history.restored_best_weights) {
    logger_->info("Restored the weights of the best epoch, {}", history.best_epoch);
  }
}

ProgressBar::ProgressBar() : ProgressBar(stderr, ::isatty(STDERR_FILENO) == 1) {}

void ProgressBar::on_batch_end(const BatchProgress& p) {
  if (!enabled_) return;
  const int64_t width = 30;
  const int64_t filled = p.batch * width / p.num_batches;
  // Redraw at most ~100 times an epoch (the bar and the batch count are known on the host).
  const int64_t step = p.batch * 100 / p.num_batches;
  const bool last = p.batch == p.num_batches;
  if (step == last_drawn_ && !last) return;
  last_drawn_ = step;
  // Reading the running totals waits for the device: at most every read_interval_, and at the
  // epoch's last batch (fit waits for the device there anyway).
  const auto now = now_();
  if (last || !last_read_ || now - *last_read_ >= read_interval_) {
    last_read_ = now;
    const double loss = p.loss_sum.item<double>() / double(p.seen);
    const double accuracy = double(p.correct.item<int64_t>()) / double(p.seen);
    char text[64];
    std::snprintf(text, sizeof text, " loss %.4f accuracy %s", loss, percent(accuracy).c_str());
    numbers_ = text;
  }
  std::fprintf(out_, "\r  epoch %lld [%s%s] %lld/%lld%s ", static_cast<long long>(p.epoch),
               std::string(size_t(filled), '=').c_str(),
               std::string(size_t(width - filled), ' ').c_str(), static_cast<long long>(p.batch),
               static_cast<long long>(p.num_batches), numbers_.c_str());
  std::fflush(out_);
}

void ProgressBar::on_epoch_end(const EpochMetrics&, const EvaluationResult&) {
  if (!enabled_) return;
  std::fprintf(out_, "\r%80s\r", "");
  std::fflush(out_);
  last_drawn_ = -1;
  numbers_.clear();
}

void MetricsWriter::on_epoch_end(const EpochMetrics& m, const EvaluationResult&) {
  rows_.push_back(m);
  std::string csv = EpochMetrics::csv_header() + "\n";
  std::string jsonl;
  for (const auto& row : rows_) {
    csv += row.csv_row() + "\n";
    jsonl += json_text(row.to_json(), -1) + "\n";
  }
  write_file_atomic(RunFolder(run_dir_).metrics_csv(), csv);
  write_file_atomic(RunFolder(run_dir_).metrics_jsonl(), jsonl);
}

void SummaryUpdater::on_epoch_end(const EpochMetrics& m, const EvaluationResult& val) {
  summary_.epochs_completed = m.epoch;
  if (!std::isnan(m.val_accuracy)) summary_.last_val_accuracy = val.accuracy;
  summary_.updated_at = iso_utc_now();
  write_summary(path_, summary_);
}

}  // namespace cifar_exp
