// The run's TensorBoard log (tensorboard.h).
#include "cifar_exp/training/tensorboard.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "cifar_exp/data/data.h"
#include "cifar_exp/io/painting.h"

namespace fs = std::filesystem;

namespace cifar_exp {

TensorBoardLogger::TensorBoardLogger(TensorBoardOptions options) : options_(std::move(options)) {}

EventFileWriter& TensorBoardLogger::writer(const std::string& sub_run) {
  auto& w = writers_[sub_run];
  if (!w) w = std::make_unique<EventFileWriter>((fs::path(options_.dir) / sub_run).string());
  return *w;
}

void TensorBoardLogger::on_train_begin(int64_t, int64_t batches_per_epoch) {
  batches_per_epoch_ = std::max<int64_t>(1, batches_per_epoch);
  const FitState& s = fit_state();
  if (!s.history.epochs.empty() || s.start.batches_done > 0) {
    // Resumed: continue after what the earlier sessions logged, and end as this one does.
    remove_session_end(options_.dir);
    const std::string train_dir = (fs::path(options_.dir) / "train").string();
    last_batch_step_ = last_step(train_dir, "batch_loss");
    const int64_t last_epoch = last_step(train_dir, "epoch_loss");
    const int64_t last_validated =
        last_step((fs::path(options_.dir) / "validation").string(), "epoch_loss");
    for (const EpochMetrics& m : s.history.epochs) {
      if (m.epoch > last_epoch) log_training_epoch(m);
      if (m.epoch > last_validated) log_validation_epoch(m);
    }
    for (auto& [name, w] : writers_) w->flush();
    return;
  }
  EventFileWriter& root = writer(".");
  root.add_session_start(options_.hparams);
  for (const auto& [tag, markdown] : options_.texts) root.add_text(tag, 0, markdown);
  root.flush();
  if (options_.augmentation_preview.defined()) {
    writer("train").add_image("augmentation_preview", 0, options_.augmentation_preview);
    writer("train").flush();
  }
}

void TensorBoardLogger::on_batch_end(const BatchProgress& p) {
  if (options_.batch_interval <= 0 || p.batch % options_.batch_interval != 0) return;
  const int64_t step = (p.epoch - 1) * batches_per_epoch_ + p.batch;
  if (step <= last_batch_step_) return;
  EventFileWriter& train = writer("train");
  train.add_scalar("batch_loss", step, p.loss_sum.item<double>() / double(p.seen));
  train.add_scalar("batch_accuracy", step, double(p.correct.item<int64_t>()) / double(p.seen));
  train.flush(/*sync=*/false);
}

void TensorBoardLogger::on_epoch_end(const EpochMetrics& m, const EvaluationResult&) {
  log_training_epoch(m);
  log_validation_epoch(m);
  for (auto& [name, w] : writers_) w->flush();
}

void TensorBoardLogger::log_training_epoch(const EpochMetrics& m) {
  EventFileWriter& train = writer("train");
  train.add_scalar("epoch_loss", m.epoch, m.train_loss);
  train.add_scalar("epoch_accuracy", m.epoch, m.train_accuracy);
  if (!std::isnan(m.learning_rate))
    train.add_scalar("epoch_learning_rate", m.epoch, m.learning_rate);
  train.add_scalar("epoch_seconds", m.epoch, m.seconds);
  train.add_scalar("epoch_images_per_second", m.epoch, m.images_per_second);
}

void TensorBoardLogger::log_validation_epoch(const EpochMetrics& m) {
  if (std::isnan(m.val_accuracy)) return;
  EventFileWriter& validation = writer("validation");
  validation.add_scalar("epoch_loss", m.epoch, m.val_loss);
  validation.add_scalar("epoch_accuracy", m.epoch, m.val_accuracy);
}

void TensorBoardLogger::on_train_end(const History&) {
  for (auto& [name, w] : writers_) w->flush();
}

void TensorBoardLogger::finish(int64_t epoch, const EvaluationResult& test, bool completed) {
  if (test.confusion.defined()) {
    EventFileWriter& t = writer("test");
    t.add_scalar("epoch_loss", epoch, test.loss);
    t.add_scalar("epoch_accuracy", epoch, test.accuracy);
    const auto names = options_.class_names.empty() ? parse_class_names("") : options_.class_names;
    t.add_image("confusion_matrix", epoch, confusion_image(test.confusion, names));
    t.flush();
  }
  end_session(completed ? SessionStatus::kSuccess : SessionStatus::kRunning);
}

void TensorBoardLogger::end_failed() noexcept {
  try {
    end_session(SessionStatus::kFailure);
  } catch (const std::exception&) {
    // The run's own error (often this very disk) is what the run reports.
  }
}

void TensorBoardLogger::end_session(SessionStatus status) {
  EventFileWriter& root = writer(".");
  root.add_session_end(status);
  root.flush();
}

}  // namespace cifar_exp
