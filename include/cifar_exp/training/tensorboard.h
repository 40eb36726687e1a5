// The run's TensorBoard log, so that `tensorboard --logdir runs/` shows every run of every sweep:
// TensorBoardLogger is the fit() callback that lays a run out as Keras' TensorBoard callback
// does (sub-runs train/ and validation/ with epoch_loss and epoch_accuracy) and adds what the
// HParams, Images and Text dashboards show, in event files (records/event_file.h); the confusion
// picture is io/painting.h's.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "cifar_exp/records/event_file.h"
#include "cifar_exp/training/callback.h"

namespace cifar_exp {

// What TensorBoardLogger needs beyond fit()'s events.
struct TensorBoardOptions {
  std::string dir;             // <run>/tensorboard
  int64_t batch_interval = 0;  // batch_loss and batch_accuracy every N batches; 0: none
  // Written once, when the run starts (not again on resume): the HParams dashboard's values
  // (numbers, strings, booleans; other JSON as its text) and the text dashboard's pages.
  std::map<std::string, nlohmann::json> hparams;
  std::vector<std::pair<std::string, std::string>> texts;  // tag, markdown
  torch::Tensor augmentation_preview;                      // uint8 H x W x 3, or undefined
  std::vector<std::string> class_names;  // the confusion picture's; empty: CIFAR-10's
};

// The run's TensorBoard log, as fit() goes:
//   train/       epoch_loss, epoch_accuracy, epoch_learning_rate, epoch_seconds,
//                epoch_images_per_second (step: the epoch); batch_loss, batch_accuracy (the
//                epoch's running figures, as the console's bar, every batch_interval batches;
//                step: the batch counted over the whole run); the augmentation preview
//   validation/  epoch_loss, epoch_accuracy (when the run validates)
//   test/        epoch_loss, epoch_accuracy and the confusion matrix after training (finish())
//   .            the HParams session (start, and end when finished) and the text pages.
// Batch figures are written as they come (a crash loses none), and synced with each epoch's. A
// resumed run writes new files that continue after the last step each tag has in the earlier
// ones (read back at the start): epochs the checkpoint holds but the log lacks are written
// then, and no step is written twice, so any reader sees each step once.
class TensorBoardLogger : public TrainingCallback {
 public:
  explicit TensorBoardLogger(TensorBoardOptions options);
  void on_train_begin(int64_t epochs, int64_t batches_per_epoch) override;
  void on_batch_end(const BatchProgress& progress) override;
  void on_epoch_end(const EpochMetrics& m, const EvaluationResult& val) override;
  void on_train_end(const History& history) override;
  // After training: the test split's figures at step `epoch`, its confusion matrix, and the
  // HParams session's end: Success when completed, Running when interrupted (`resume` goes on).
  void finish(int64_t epoch, const EvaluationResult& test, bool completed);
  // A run that failed: its HParams session ends as Failure. Best effort: never throws (the run's
  // own error is what it reports). A resumed run replaces an earlier session's end with its own.
  void end_failed() noexcept;

 private:
  EventFileWriter& writer(const std::string& sub_run);
  void end_session(SessionStatus status);
  void log_training_epoch(const EpochMetrics& m);
  void log_validation_epoch(const EpochMetrics& m);
  TensorBoardOptions options_;
  int64_t batches_per_epoch_ = 1;
  int64_t last_batch_step_ = -1;  // logged by an earlier session of the run
  std::map<std::string, std::unique_ptr<EventFileWriter>> writers_;
};

}  // namespace cifar_exp
