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
  // All text at twice the font's size (glyphs 18 px tall). TensorBoard shows the picture fitted
  // to its card, scaled by nearest neighbour: in the Time Series dashboard (the default) into
  // about 214 px of height, in the Images dashboard into about 345 px of width. At half size or
  // more every 2 px stroke, gap and grid line keeps a pixel, so the picture is kept low (402 px
  // for CIFAR-10) and narrow (582 px).
  constexpr int64_t scale = 2;
  std::vector<std::string> names(static_cast<size_t>(n)), percents(static_cast<size_t>(n * n));
  std::vector<double> shares(static_cast<size_t>(n * n));  // each cell's fraction of its row
  int64_t name_length = 0;
  for (int64_t r = 0; r < n; ++r) {
    std::string& name = names[size_t(r)];
    name = size_t(r) < class_names.size() ? class_names[size_t(r)] : std::to_string(r);
    if (name.size() > 16) name.resize(16);
    name_length = std::max(name_length, text_length(name, scale));
    int64_t total = 0;
    for (int64_t c = 0; c < n; ++c) total += count[r][c];
    for (int64_t c = 0; c < n; ++c) {
      const double share = double(count[r][c]) / double(std::max<int64_t>(total, 1));
      shares[size_t(r * n + c)] = share;
      percents[size_t(r * n + c)] = std::to_string(std::lround(100.0 * share));
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

  // Left to right: the turned title "true", the row names (right-aligned), the grid. Top to
  // bottom: the grid, the column names (turned, ending at the grid), the title "predicted". The
  // colour bar lies in the corner below the row names, left of the column names. Cells 40 px
  // wide, room for "100", and 22 px high, a line of text (the picture stays low: the Time Series
  // card fits it by its height), between grid lines 2 px wide (so that none drops out at half
  // size).
  const int64_t pad = 6, gap = 6, line = kGlyphHeight * scale, cap = kCapHeight * scale;
  const int64_t cell_w = 40, cell_h = 22, rule = 2;
  const int64_t pitch_x = cell_w + rule, pitch_y = cell_h + rule;
  const int64_t grid_w = n * pitch_x + rule, grid_h = n * pitch_y + rule;
  const std::string caption = "% of row", low_mark = "0%", high_mark = "100%";
  const int64_t legend_w =
      std::max(text_length(caption, scale),
               text_length(low_mark, scale) + gap + text_length(high_mark, scale));
  const int64_t bar_h = 14;
  const int64_t legend_h = line + 4 + bar_h + 4 + line;
  const int64_t left_w = std::max(name_length, legend_w);
  const int64_t grid_x = pad + line + gap + left_w + gap, grid_y = pad;
  const int64_t names_y = grid_y + grid_h + gap, band_h = std::max(name_length, legend_h);
  const int64_t title_y = names_y + band_h + gap;
  const int64_t width = grid_x + grid_w + pad, height = title_y + line + pad;
  Canvas canvas(height, width, white);

  canvas.fill(grid_x, grid_y, grid_w, grid_h, lines);
  const int64_t centre_y = (cell_h - cap) / 2;  // a line of text's offset in its row
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < n; ++c) {
      const Rgb colour = shade(shares[size_t(r * n + c)]);
      const int64_t x = grid_x + rule + c * pitch_x, y = grid_y + rule + r * pitch_y;
      canvas.fill(x, y, cell_w, cell_h, colour);
      // Dark text on light cells, white on dark ones (by the cell's luminance); 0 of the row
      // faint (a count that rounds to 0 % is dark).
      const double luminance = 0.299 * colour.r + 0.587 * colour.g + 0.114 * colour.b;
      const std::string& percent = percents[size_t(r * n + c)];
      canvas.text(x + (cell_w - text_length(percent, scale)) / 2, y + centre_y, percent,
                  count[r][c] == 0  ? faint
                  : luminance < 128 ? white
                                    : ink,
                  scale);
    }
    const std::string& name = names[size_t(r)];
    const int64_t length = text_length(name, scale);
    canvas.text(grid_x - gap - length, grid_y + rule + r * pitch_y + centre_y, name, ink, scale);
    canvas.text(grid_x + rule + r * pitch_x + (cell_w - cap) / 2, names_y + length - 1, name, ink,
                scale, Canvas::Direction::kUp);
  }
  canvas.text(pad, grid_y + (grid_h + text_length("true", scale)) / 2, "true", ink, scale,
              Canvas::Direction::kUp);
  canvas.text(grid_x + (grid_w - text_length("predicted", scale)) / 2, title_y, "predicted", ink,
              scale);

  // The colour bar, 0% of the row on the left to 100% on the right, in a grey frame (2 px), under
  // its caption and over its end labels; right-aligned with the row names, in the middle of the
  // band of column names.
  const int64_t legend_x = grid_x - gap - legend_w, legend_y = names_y + (band_h - legend_h) / 2;
  canvas.text(legend_x, legend_y, caption, ink, scale);
  const int64_t bar_y = legend_y + line + 4;
  canvas.fill(legend_x, bar_y, legend_w, bar_h, lines);
  const int64_t left = legend_x + rule, right = legend_x + legend_w - rule - 1;
  for (int64_t x = left; x <= right; ++x) {
    canvas.fill(x, bar_y + rule, 1, bar_h - 2 * rule,
                shade(double(x - left) / double(right - left)));
  }
  const int64_t marks_y = bar_y + bar_h + 4;
  canvas.text(legend_x, marks_y, low_mark, ink, scale);
  canvas.text(legend_x + legend_w - text_length(high_mark, scale), marks_y, high_mark, ink, scale);
  return canvas.image();
}

}  // namespace cifar_exp
