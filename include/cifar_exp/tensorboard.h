// TensorBoard event files, so that `tensorboard --logdir runs/` shows every run of every sweep:
// EventFileWriter writes tensorboard.Event protocol buffers (src/proto/, the published field
// numbers) in TFRecord framing; TensorBoardLogger is the fit() callback that lays a run out as
// Keras' TensorBoard callback does (sub-runs train/ and validation/ with epoch_loss and
// epoch_accuracy) and adds what the HParams, Images and Text dashboards show.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "cifar_exp/training.h"

namespace cifar_exp {

// CRC-32C (Castagnoli), as TFRecord frames use it; and its masked form, which the frames store.
uint32_t crc32c(std::string_view bytes);
uint32_t masked_crc32c(std::string_view bytes);

// One TFRecord frame: little-endian uint64 length, masked CRC-32C of those 8 bytes, the data,
// masked CRC-32C of the data.
std::string tfrecord_frame(std::string_view data);

// The highest step of `tag` among the whole records of the event files in `dir` (-1 when none:
// no folder, no file, no such tag); reading stops at a file's first incomplete or damaged
// record, as TensorBoard's does.
int64_t last_step(const std::string& dir, const std::string& tag);

// An events.out.tfevents.<seconds>.<host>.<pid>.<n> file in `dir` (made if needed), named to
// sort after the folder's earlier event files (TensorBoard reads them in name order, so a
// resumed run's events come after those it continues), beginning with the file_version event.
// Events are buffered and written by flush(), then fsync'ed (durable) unless told otherwise: a
// crash leaves a readable prefix of whole records; a failed write is an OutputError naming the
// file and the system's reason.
class EventFileWriter {
 public:
  explicit EventFileWriter(const std::string& dir);
  ~EventFileWriter();
  EventFileWriter(const EventFileWriter&) = delete;
  EventFileWriter& operator=(const EventFileWriter&) = delete;

  // A scalar (simple_value, float32, which TensorBoard's scalars dashboard reads).
  void add_scalar(const std::string& tag, int64_t step, double value);
  // An RGB image (uint8 H x W x 3), stored as PNG.
  void add_image(const std::string& tag, int64_t step, const torch::Tensor& rgb);
  // Markdown for the text dashboard.
  void add_text(const std::string& tag, int64_t step, const std::string& markdown);
  // A value of the HParams plugin (its HParamsPluginData, serialised) under `tag`.
  void add_plugin_data(const std::string& tag, const std::string& plugin_name,
                       const std::string& content);
  void flush(bool sync = true);
  const std::string& path() const { return path_; }

 private:
  void add(const std::string& serialized_event);
  std::string path_;
  int fd_ = -1;
  std::string pending_;
};

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
  void end_session(int status);  // a tensorboard::hparams::Status
  void log_training_epoch(const EpochMetrics& m);
  void log_validation_epoch(const EpochMetrics& m);
  TensorBoardOptions options_;
  int64_t batches_per_epoch_ = 1;
  int64_t last_batch_step_ = -1;  // logged by an earlier session of the run
  std::map<std::string, std::unique_ptr<EventFileWriter>> writers_;
};

// The confusion matrix (int64 C x C, rows true class, columns predicted) as a labelled picture,
// uint8 H x W x 3 (for CIFAR-10's 10 classes 582 wide, 402 high): one 40 x 22 px cell per entry,
// shaded from white (none of the row) to dark blue (the whole row), with its share of the row in
// whole percent, "0" to "100" (white on dark cells, dark on light ones, grey where the count is
// 0); the class names along both axes (rows' on the left, columns' below, turned), the axis
// titles "true" and "predicted", and a colour bar from 0% to 100% of the row in the corner below
// the row names. All text is at twice the size of painting.h's built-in font (18 px glyphs), so
// that it stays whole in TensorBoard's cards, which scale the picture down by nearest neighbour
// (to about 214 px high in the Time Series dashboard, 345 px wide in the Images one). Rows beyond
// `class_names` are named by their number; names are cut at 16 characters.
torch::Tensor confusion_image(const torch::Tensor& confusion,
                              const std::vector<std::string>& class_names);

}  // namespace cifar_exp
