// TensorBoard event files and the run's TensorBoard log (tensorboard.h).
#include "cifar_exp/tensorboard.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "cifar_exp/data.h"
#include "cifar_exp/errors.h"
#include "cifar_exp/files.h"
#include "cifar_exp/images.h"
#include "cifar_exp/painting.h"
#include "src/proto/tensorboard_event.pb.h"
#include "src/proto/tensorboard_hparams.pb.h"

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

// The CRC-32C table for the reflected polynomial 0x82F63B78.
std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) ? 0x82F63B78u : 0u);
    table[i] = crc;
  }
  return table;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

const char* const kFilePrefix = "events.out.tfevents.";

// The seconds field of an event file's name (events.out.tfevents.<seconds>.<...>), or -1.
int64_t name_seconds(const std::string& name) {
  if (name.rfind(kFilePrefix, 0) != 0) return -1;
  const std::string rest = name.substr(std::strlen(kFilePrefix));
  try {
    return std::stoll(rest.substr(0, rest.find('.')));
  } catch (const std::exception&) {
    return -1;
  }
}

std::string host_name() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) return "localhost";
  return host;
}

[[noreturn]] void throw_write_error(const std::string& path, int error) {
  throw OutputError(path + ": cannot write file: " + std::strerror(error));
}

}  // namespace

uint32_t crc32c(std::string_view bytes) {
  static const std::array<uint32_t, 256> table = make_crc32c_table();
  uint32_t crc = 0xFFFFFFFFu;
  for (const char c : bytes) crc = table[(crc ^ uint8_t(c)) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(std::string_view bytes) {
  const uint32_t crc = crc32c(bytes);
  return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
}

std::string tfrecord_frame(std::string_view data) {
  const auto little_endian = [](uint64_t value, int bytes) {
    std::string out;
    for (int i = 0; i < bytes; ++i) out.push_back(char((value >> (8 * i)) & 0xFF));
    return out;
  };
  const std::string length = little_endian(data.size(), 8);
  std::string frame = length + little_endian(masked_crc32c(length), 4);
  frame.append(data);
  frame += little_endian(masked_crc32c(data), 4);
  return frame;
}

EventFileWriter::EventFileWriter(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw OutputError(dir + ": cannot create folder: " + ec.message());
  // After every earlier event file of the folder in name order, whatever the clock says.
  int64_t seconds = int64_t(now_seconds());
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    seconds = std::max(seconds, name_seconds(entry.path().filename().string()) + 1);
  }
  const std::string stem = (fs::path(dir) / kFilePrefix).string() + std::to_string(seconds) + "." +
                           host_name() + "." + std::to_string(getpid()) + ".";
  for (int n = 0; fd_ < 0; ++n) {
    path_ = stem + std::to_string(n);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0 && errno != EEXIST) throw_write_error(path_, errno);
  }
  tensorboard::Event event;
  event.set_wall_time(now_seconds());
  event.set_file_version("brain.Event:2");
  event.mutable_source_metadata()->set_writer("cifar-exp");
  add(event.SerializeAsString());
  flush();
}

EventFileWriter::~EventFileWriter() {
  try {
    flush();
  } catch (const Error&) {
    // Reported by the flush() that training calls; a destructor cannot.
  }
  if (fd_ >= 0) ::close(fd_);
}

void EventFileWriter::add(const std::string& serialized_event) {
  pending_ += tfrecord_frame(serialized_event);
}

void EventFileWriter::flush(bool sync) {
  if (pending_.empty()) return;
  // Cleared first: a record that could not be written is not tried again (a partial one would
  // end the readable prefix anyway).
  const std::string bytes = std::move(pending_);
  pending_.clear();
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_write_error(path_, errno);
    done += size_t(n);
  }
  if (sync && ::fsync(fd_) != 0) throw_write_error(path_, errno);
}

namespace {

uint64_t little_endian_value(const std::string& bytes, size_t at, int size) {
  uint64_t value = 0;
  for (int i = size - 1; i >= 0; --i) value = (value << 8) | uint8_t(bytes[at + size_t(i)]);
  return value;
}

}  // namespace

namespace {

// Calls `on_record` with the data of each whole record of the event file at `path`, in order,
// stopping at the first incomplete or damaged one as TensorBoard's reader does. Read record by
// record, so that memory stays bounded whatever the file holds (a garbage file of gigabytes); a
// record larger than any we write ends the readable prefix.
void for_each_record(const fs::path& path,
                     const std::function<void(const std::string& data, size_t size)>& on_record) {
  constexpr uint64_t kMaxRecordBytes = 64ull << 20;
  std::ifstream in(path, std::ios::binary);
  std::string header(12, '\0'), data;
  while (in.read(header.data(), 12)) {
    const std::string_view length(header.data(), 8);
    if (little_endian_value(header, 8, 4) != masked_crc32c(length)) break;
    const uint64_t size = little_endian_value(header, 0, 8);
    if (size > kMaxRecordBytes) break;
    data.resize(size + 4);
    if (!in.read(data.data(), std::streamsize(size + 4))) break;  // incomplete
    if (little_endian_value(data, size, 4) != masked_crc32c(std::string_view(data.data(), size)))
      break;
    on_record(data, size_t(size));
  }
}

// The event files of `dir` (not its sub-runs), by TensorBoard's naming.
std::vector<fs::path> event_files(const std::string& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (name_seconds(entry.path().filename().string()) >= 0 && entry.is_regular_file(ec))
      files.push_back(entry.path());
  return files;
}

bool has_tag(const tensorboard::Event& event, const std::string& tag) {
  if (!event.has_summary()) return false;
  for (const auto& value : event.summary().value())
    if (value.tag() == tag) return true;
  return false;
}

}  // namespace

int64_t last_step(const std::string& dir, const std::string& tag) {
  int64_t last = -1;
  for (const auto& file : event_files(dir)) {
    for_each_record(file, [&](const std::string& data, size_t size) {
      tensorboard::Event event;
      if (event.ParseFromArray(data.data(), int(size)) && has_tag(event, tag))
        last = std::max<int64_t>(last, event.step());
    });
  }
  return last;
}

namespace {

tensorboard::Event summary_event(int64_t step) {
  tensorboard::Event event;
  event.set_wall_time(now_seconds());
  event.set_step(step);
  return event;
}

// The event's summary value named `tag` (each event here carries one).
tensorboard::Summary::Value* tagged_value(tensorboard::Event& event, const std::string& tag) {
  auto* value = event.mutable_summary()->add_value();
  value->set_tag(tag);
  return value;
}

}  // namespace

void EventFileWriter::add_scalar(const std::string& tag, int64_t step, double value) {
  auto event = summary_event(step);
  auto* v = tagged_value(event, tag);
  v->set_simple_value(float(value));
  add(event.SerializeAsString());
}

void EventFileWriter::add_image(const std::string& tag, int64_t step, const torch::Tensor& rgb) {
  auto event = summary_event(step);
  auto* v = tagged_value(event, tag);
  auto* image = v->mutable_image();
  image->set_height(int32_t(rgb.size(0)));
  image->set_width(int32_t(rgb.size(1)));
  image->set_colorspace(3);  // RGB
  image->set_encoded_image_string(encode_png(rgb, path_ + ": " + tag));
  add(event.SerializeAsString());
}

void EventFileWriter::add_text(const std::string& tag, int64_t step, const std::string& markdown) {
  auto event = summary_event(step);
  auto* v = tagged_value(event, tag);
  auto* metadata = v->mutable_metadata();
  metadata->mutable_plugin_data()->set_plugin_name("text");
  metadata->set_data_class(tensorboard::DATA_CLASS_TENSOR);
  auto* tensor = v->mutable_tensor();
  tensor->set_dtype(tensorboard::DT_STRING);
  tensor->mutable_tensor_shape();  // a scalar: no dimensions
  tensor->add_string_val(markdown);
  add(event.SerializeAsString());
}

void EventFileWriter::add_plugin_data(const std::string& tag, const std::string& plugin_name,
                                      const std::string& content) {
  auto event = summary_event(0);
  auto* v = tagged_value(event, tag);
  auto* plugin = v->mutable_metadata()->mutable_plugin_data();
  plugin->set_plugin_name(plugin_name);
  plugin->set_content(content);
  // The placeholder value TensorBoard's own hparams summaries carry: a float32 zero.
  auto* tensor = v->mutable_tensor();
  tensor->set_dtype(tensorboard::DT_FLOAT);
  tensor->mutable_tensor_shape();
  tensor->add_float_val(0.0f);
  add(event.SerializeAsString());
}

namespace {

tensorboard::hparams::Value hparam_value(const nlohmann::json& value) {
  tensorboard::hparams::Value out;
  if (value.is_boolean()) {
    out.set_bool_value(value.get<bool>());
  } else if (value.is_number()) {
    out.set_number_value(value.get<double>());
  } else if (value.is_string()) {
    out.set_string_value(value.get<std::string>());
  } else {
    out.set_string_value(value.dump());
  }
  return out;
}

// The HParams plugin's summary tags (tensorboard/plugins/hparams/metadata.py).
const char* const kSessionStartTag = "_hparams_/session_start_info";
const char* const kSessionEndTag = "_hparams_/session_end_info";

// Takes an earlier session's end (an interrupted or failed one's status) out of the event files
// of `dir`, rewriting each that has one without it: TensorBoard keeps the first value of a tag,
// so the end a resumed run writes would otherwise never show. These files hold the session's
// start, its text pages and its end, a few kilobytes.
void remove_session_end(const std::string& dir) {
  for (const auto& file : event_files(dir)) {
    std::string kept;
    bool found = false;
    for_each_record(file, [&](const std::string& data, size_t size) {
      tensorboard::Event event;
      if (event.ParseFromArray(data.data(), int(size)) && has_tag(event, kSessionEndTag)) {
        found = true;
      } else {
        kept += tfrecord_frame(std::string_view(data.data(), size));
      }
    });
    if (found) write_file_atomic(file.string(), kept);
  }
}

}  // namespace

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
  tensorboard::hparams::HParamsPluginData data;
  auto* start = data.mutable_session_start_info();
  for (const auto& [name, value] : options_.hparams)
    (*start->mutable_hparams())[name] = hparam_value(value);
  start->set_start_time_secs(now_seconds());
  EventFileWriter& root = writer(".");
  root.add_plugin_data(kSessionStartTag, "hparams", data.SerializeAsString());
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
  end_session(completed ? tensorboard::hparams::STATUS_SUCCESS
                        : tensorboard::hparams::STATUS_RUNNING);
}

void TensorBoardLogger::end_failed() noexcept {
  try {
    end_session(tensorboard::hparams::STATUS_FAILURE);
  } catch (const std::exception&) {
    // The run's own error (often this very disk) is what the run reports.
  }
}

void TensorBoardLogger::end_session(int status) {
  tensorboard::hparams::HParamsPluginData data;
  auto* end = data.mutable_session_end_info();
  end->set_status(tensorboard::hparams::Status(status));
  end->set_end_time_secs(now_seconds());
  EventFileWriter& root = writer(".");
  root.add_plugin_data(kSessionEndTag, "hparams", data.SerializeAsString());
  root.flush();
}

torch::Tensor confusion_image(const torch::Tensor& confusion,
                              const std::vector<std::string>& class_names) {
  const auto counts = confusion.to(torch::kCPU, torch::kInt64).contiguous();
  const auto count = counts.accessor<int64_t, 2>();
  const int64_t n = counts.size(0);
  std::vector<std::string> names(static_cast<size_t>(n)), numbers(static_cast<size_t>(n * n));
  std::vector<double> shares(static_cast<size_t>(n * n));  // each cell's fraction of its row
  int64_t name_length = 0, number_length = 0;
  for (int64_t r = 0; r < n; ++r) {
    std::string& name = names[size_t(r)];
    name = size_t(r) < class_names.size() ? class_names[size_t(r)] : std::to_string(r);
    if (name.size() > 16) name.resize(16);
    name_length = std::max(name_length, text_length(name));
    int64_t total = 0;
    for (int64_t c = 0; c < n; ++c) total += count[r][c];
    for (int64_t c = 0; c < n; ++c) {
      shares[size_t(r * n + c)] = double(count[r][c]) / double(std::max<int64_t>(total, 1));
      numbers[size_t(r * n + c)] = std::to_string(count[r][c]);
      number_length = std::max(number_length, text_length(numbers[size_t(r * n + c)]));
    }
  }
  // White (none of the row) to dark blue (the whole row): RGB (255, 255, 255) -> (8, 48, 107).
  const auto shade = [](double f) {
    const auto channel = [f](double dark) {
      return uint8_t(std::lround(255.0 + (dark - 255.0) * f));
    };
    return Rgb{channel(8), channel(48), channel(107)};
  };
  const Rgb white{255, 255, 255}, ink{32, 32, 32}, lines{200, 200, 200}, faint{175, 175, 175};

  // Left to right: the turned title "true", the row names (right-aligned), the grid, the colour
  // bar and its labels. Top to bottom: the grid, the column names (turned, ending at the grid),
  // the title "predicted". Cells about 330 px all together for CIFAR-10's 10, wide enough for
  // the longest count.
  const int64_t pad = 10, title = 2 * kGlyphHeight, gap = 5;
  const int64_t cell =
      std::max(std::clamp<int64_t>(330 / std::max<int64_t>(n, 1) - 1, 20, 48), number_length + 6);
  const int64_t pitch = cell + 1, grid = n * pitch + 1;
  const int64_t grid_x = pad + title + gap + name_length + gap, grid_y = pad;
  const int64_t bar_x = grid_x + grid + 12, bar_w = 14, marks_x = bar_x + bar_w + 5;
  const std::string top_mark = "100%", bottom_mark = "0%", bar_title = "share of true class";
  const int64_t width = marks_x + text_length(top_mark) + pad;
  const int64_t names_y = grid_y + grid + gap, title_y = names_y + name_length + 2 * gap;
  const int64_t height = title_y + title + pad / 2;
  Canvas canvas(height, width, white);

  canvas.fill(grid_x, grid_y, grid, grid, lines);
  const int64_t centre = (cell - kCapHeight) / 2;  // a line of text's offset in its cell
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < n; ++c) {
      const double f = shares[size_t(r * n + c)];
      const Rgb colour = shade(f);
      const int64_t x = grid_x + 1 + c * pitch, y = grid_y + 1 + r * pitch;
      canvas.fill(x, y, cell, cell, colour);
      // Dark text on light cells, white on dark ones (by the cell's luminance); 0 faint.
      const double luminance = 0.299 * colour.r + 0.587 * colour.g + 0.114 * colour.b;
      const std::string& number = numbers[size_t(r * n + c)];
      canvas.text(x + (cell - text_length(number)) / 2, y + centre, number,
                  count[r][c] == 0  ? faint
                  : luminance < 128 ? white
                                    : ink);
    }
    const std::string& name = names[size_t(r)];
    canvas.text(grid_x - gap - text_length(name), grid_y + 1 + r * pitch + centre, name, ink);
    canvas.text(grid_x + 1 + r * pitch + centre, names_y + text_length(name) - 1, name, ink, 1,
                Canvas::Direction::kUp);
  }
  canvas.text(pad, grid_y + (grid + text_length("true", 2)) / 2, "true", ink, 2,
              Canvas::Direction::kUp);
  canvas.text(grid_x + (grid - text_length("predicted", 2)) / 2, title_y, "predicted", ink, 2);

  // The colour bar: 100% of the row at the top, 0% at the bottom, in a grey frame.
  canvas.fill(bar_x, grid_y, bar_w, grid, lines);
  const int64_t top = grid_y + 1, bottom = grid_y + grid - 2;
  for (int64_t y = top; y <= bottom; ++y) {
    canvas.fill(bar_x + 1, y, bar_w - 2, 1, shade(double(bottom - y) / double(bottom - top)));
  }
  for (const auto& [y, mark] : {std::pair{top, top_mark}, std::pair{bottom, bottom_mark}}) {
    canvas.fill(bar_x + bar_w, y, 3, 1, ink);
    canvas.text(marks_x, y - kCapHeight / 2, mark, ink);
  }
  canvas.text(marks_x, grid_y + (grid + text_length(bar_title)) / 2, bar_title, ink, 1,
              Canvas::Direction::kUp);
  return canvas.image();
}

}  // namespace cifar_exp
