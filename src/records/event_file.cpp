// TensorBoard event files: TFRecord framing, the writer and the reader (event_file.h).
#include "cifar_exp/records/event_file.h"

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

#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/files.h"
#include "cifar_exp/io/images.h"
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

}  // namespace

// The files rewritten hold the session's start, its text pages and its end, a few kilobytes.
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

void EventFileWriter::add_session_start(const std::map<std::string, nlohmann::json>& hparams) {
  tensorboard::hparams::HParamsPluginData data;
  auto* start = data.mutable_session_start_info();
  for (const auto& [name, value] : hparams) (*start->mutable_hparams())[name] = hparam_value(value);
  start->set_start_time_secs(now_seconds());
  add_plugin_data(kSessionStartTag, "hparams", data.SerializeAsString());
}

void EventFileWriter::add_session_end(SessionStatus status) {
  tensorboard::hparams::HParamsPluginData data;
  auto* end = data.mutable_session_end_info();
  end->set_status(status == SessionStatus::kSuccess   ? tensorboard::hparams::STATUS_SUCCESS
                  : status == SessionStatus::kFailure ? tensorboard::hparams::STATUS_FAILURE
                                                      : tensorboard::hparams::STATUS_RUNNING);
  end->set_end_time_secs(now_seconds());
  add_plugin_data(kSessionEndTag, "hparams", data.SerializeAsString());
}

}  // namespace cifar_exp
