// TensorBoard event files: tensorboard.Event protocol buffers (src/proto/, the published field
// numbers) in TFRecord framing (CRC-32C checked), written by EventFileWriter and read back
// record by record (the last step of a tag; an earlier HParams session's end taken out). The
// run's log, laid out as Keras lays it out, is training/tensorboard.h's TensorBoardLogger.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

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

// How an HParams session (a run, in TensorBoard's HParams dashboard) ended.
enum class SessionStatus { kSuccess, kFailure, kRunning };

// Takes an earlier session's end (an interrupted or failed one's status) out of the event files
// of `dir`, rewriting each that has one without it: TensorBoard keeps the first value of a tag,
// so the end a resumed run writes would otherwise never show.
void remove_session_end(const std::string& dir);

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
  // The HParams session's start, now, with the run's values (numbers, strings, booleans; other
  // JSON as its text), and its end, now, with its status.
  void add_session_start(const std::map<std::string, nlohmann::json>& hparams);
  void add_session_end(SessionStatus status);
  void flush(bool sync = true);
  const std::string& path() const { return path_; }

 private:
  void add(const std::string& serialized_event);
  std::string path_;
  int fd_ = -1;
  std::string pending_;
};

}  // namespace cifar_exp
