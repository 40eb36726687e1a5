// EpochMetrics and RunSummary to and from their files (run_summary.h).
#include "cifar_exp/run_summary.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <limits>
#include <sstream>

#include "cifar_exp/errors.h"
#include "cifar_exp/logging.h"

namespace cifar_exp {
namespace {

using json = nlohmann::json;

// What a JSON value must be to read as T, in words for the error.
template <typename T>
struct JsonType;
template <>
struct JsonType<std::string> {
  static bool is(const json& v) { return v.is_string(); }
  static constexpr const char* kName = "a string";
};
template <>
struct JsonType<int64_t> {
  static bool is(const json& v) {
    return v.is_number_integer() &&
           !(v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX));
  }
  static constexpr const char* kName = "an integer";
};
template <>
struct JsonType<double> {
  static bool is(const json& v) { return v.is_number(); }
  static constexpr const char* kName = "a number";
};
template <>
struct JsonType<bool> {
  static bool is(const json& v) { return v.is_boolean(); }
  static constexpr const char* kName = "true or false";
};
template <>
struct JsonType<std::vector<std::string>> {
  static bool is(const json& v) {
    return v.is_array() && std::all_of(v.begin(), v.end(), JsonType<std::string>::is);
  }
  static constexpr const char* kName = "a list of strings";
};
// Numbers not recorded (NaN) are written as null: read back as NaN.
template <>
struct JsonType<std::vector<double>> {
  static bool is(const json& v) {
    return v.is_array() && std::all_of(v.begin(), v.end(),
                                       [](const json& e) { return e.is_number() || e.is_null(); });
  }
  static std::vector<double> get(const json& v) {
    std::vector<double> out;
    for (const auto& e : v) out.push_back(e.is_null() ? kNotRecordedValue() : e.get<double>());
    return out;
  }
  static double kNotRecordedValue() { return std::numeric_limits<double>::quiet_NaN(); }
  static constexpr const char* kName = "a list of numbers";
};
template <>
struct JsonType<std::vector<std::vector<int64_t>>> {
  static bool is(const json& v) {
    return v.is_array() && std::all_of(v.begin(), v.end(), [](const json& row) {
             return row.is_array() && std::all_of(row.begin(), row.end(), JsonType<int64_t>::is);
           });
  }
  static constexpr const char* kName = "a table of integers";
};

// metrics.jsonl rows never stop a reader: a value missing or of another type is "not recorded".
template <typename T>
T tolerant(const json& row, const char* key, T fallback) {
  if (!row.is_object()) return fallback;
  const auto it = row.find(key);
  return it != row.end() && JsonType<T>::is(*it) ? it->get<T>() : fallback;
}

template <typename T>
T get_as(const json& v) {
  if constexpr (std::is_same_v<T, std::vector<double>>) {
    return JsonType<T>::get(v);
  } else {
    return v.get<T>();
  }
}

// "a list", "an object", "a string \"x\"", "a number 4.5", for errors (values cut at 40).
std::string describe(const json& v) {
  if (v.is_array()) return "a list";
  if (v.is_object()) return "an object";
  const std::string kind = v.is_string() ? "a string" : v.is_boolean() ? "a boolean" : "a number";
  return kind + " " + first_line(json_text(v, -1)).substr(0, 40);
}

// doc[key] as T; nullopt when missing or null; OutputError naming the file and field when it is
// of another type.
template <typename T>
std::optional<T> typed(const json& doc, const std::string& key, const std::string& file) {
  schema::require_object(doc, file);
  const auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return std::nullopt;
  if (!JsonType<T>::is(*it)) {
    throw OutputError(file + ": field \"" + key + "\": expected " + JsonType<T>::kName +
                      ", found " + describe(*it));
  }
  return get_as<T>(*it);
}

constexpr double kNotRecorded = std::numeric_limits<double>::quiet_NaN();

// The whole cell as a finite number, else kNotRecorded.
double number(std::string text) {
  if (!text.empty() && text.back() == '\r') text.pop_back();
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value)) {
    return kNotRecorded;
  }
  return value;
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream in(line);
  for (std::string cell; std::getline(in, cell, ',');) cells.push_back(cell);
  return cells;
}

}  // namespace

std::string EpochMetrics::csv_header() {
  return "epoch,train_loss,train_accuracy,train_error,val_loss,val_accuracy,val_error,seconds,"
         "images_per_second";
}

std::string EpochMetrics::csv_row() const {
  // A value not recorded (NaN: no validation) is an empty cell, read back as NaN.
  const auto cell = [](double v, int digits) { return std::isnan(v) ? "" : fixed(v, digits); };
  std::ostringstream out;
  out << epoch << ',' << cell(train_loss, 6) << ',' << cell(train_accuracy, 6) << ','
      << cell(train_error(), 6) << ',' << cell(val_loss, 6) << ',' << cell(val_accuracy, 6) << ','
      << cell(val_error(), 6) << ',' << cell(seconds, 3) << ',' << cell(images_per_second, 1);
  return out.str();
}

json EpochMetrics::to_json() const {
  // A value not recorded (NaN) is null, in memory as in the file.
  auto value = [](double v) { return std::isnan(v) ? json(nullptr) : json(v); };
  return {{"epoch", epoch},
          {"train_loss", value(train_loss)},
          {"train_accuracy", value(train_accuracy)},
          {"train_error", value(train_error())},
          {"val_loss", value(val_loss)},
          {"val_accuracy", value(val_accuracy)},
          {"val_error", value(val_error())},
          {"seconds", value(seconds)},
          {"images_per_second", value(images_per_second)}};
}

EpochMetrics EpochMetrics::from_json(const json& row) {
  EpochMetrics m;
  m.epoch = tolerant<int64_t>(row, "epoch", 0);
  m.train_loss = tolerant<double>(row, "train_loss", kNotRecorded);
  m.train_accuracy = tolerant<double>(row, "train_accuracy", kNotRecorded);
  m.val_loss = tolerant<double>(row, "val_loss", kNotRecorded);
  m.val_accuracy = tolerant<double>(row, "val_accuracy", kNotRecorded);
  m.seconds = tolerant<double>(row, "seconds", kNotRecorded);
  m.images_per_second = tolerant<double>(row, "images_per_second", kNotRecorded);
  return m;
}

std::vector<EpochMetrics> EpochMetrics::from_csv(const std::string& text) {
  std::vector<EpochMetrics> rows;
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line)) return rows;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const std::vector<std::string> header = split_csv_line(line);
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::vector<std::string> cells = split_csv_line(line);
    json row = json::object();
    for (size_t c = 0; c < header.size() && c < cells.size(); ++c) {
      const double value = number(cells[c]);
      if (std::isnan(value)) continue;
      row[header[c]] = header[c] == "epoch" ? json(int64_t(value)) : json(value);
    }
    rows.push_back(from_json(row));
  }
  return rows;
}

std::vector<double> EpochMetrics::to_row() const {
  return {double(epoch), train_loss, train_accuracy,   val_loss,
          val_accuracy,  seconds,    images_per_second};
}

EpochMetrics EpochMetrics::from_row(const std::vector<double>& row) {
  EpochMetrics m;
  if (row.size() < size_t(kRowSize)) return m;  // not a checkpoint's row: nothing recorded
  m.epoch = int64_t(row[0]);
  m.train_loss = row[1];
  m.train_accuracy = row[2];
  m.val_loss = row[3];
  m.val_accuracy = row[4];
  m.seconds = row[5];
  m.images_per_second = row[6];
  return m;
}

namespace {

json results_to_json(const SummaryResults& r) {
  return {{"test_accuracy", r.test_accuracy},
          {"test_error", r.test_error},
          {"test_loss", r.test_loss},
          {"best_epoch", r.best_epoch},
          {"best_val_accuracy", r.best_val_accuracy},
          {"images_per_second", r.images_per_second},
          {"per_class_accuracy", r.per_class_accuracy},
          {"confusion_matrix", r.confusion_matrix}};
}

std::optional<SummaryResults> results_from_json(const json& doc, const std::string& file) {
  if (!typed<double>(doc, "test_accuracy", file)) return std::nullopt;
  SummaryResults r;
  r.test_accuracy = typed<double>(doc, "test_accuracy", file).value_or(0.0);
  r.test_error = typed<double>(doc, "test_error", file).value_or(1.0 - r.test_accuracy);
  r.test_loss = typed<double>(doc, "test_loss", file).value_or(0.0);
  r.best_epoch = typed<int64_t>(doc, "best_epoch", file).value_or(0);
  // null: not recorded (a run without validation).
  r.best_val_accuracy = typed<double>(doc, "best_val_accuracy", file).value_or(kNotRecorded);
  r.images_per_second = typed<double>(doc, "images_per_second", file).value_or(0.0);
  r.per_class_accuracy =
      typed<std::vector<double>>(doc, "per_class_accuracy", file).value_or(std::vector<double>{});
  r.confusion_matrix = typed<std::vector<std::vector<int64_t>>>(doc, "confusion_matrix", file)
                           .value_or(std::vector<std::vector<int64_t>>{});
  return r;
}

// The fields every state has.
json settings_to_json(const RunSummary& s) {
  return {
      {"name", s.name},
      {"status", s.status},
      {"model", s.model},
      {"augmentation", s.augmentation},
      {"transfer", s.transfer},
      {"weights", s.weights ? json(*s.weights) : json(nullptr)},
      {"epochs", s.epochs},
      {"epochs_completed", s.epochs_completed},
      {"batch_size", s.batch_size},
      {"precision", s.precision},
      {"seed", s.seed},
      {"trainable_params", s.trainable_params},
      {"frozen_params", s.frozen_params},
      {"train_images", s.train_images},
      {"test_images", s.test_images},
      {"validation", s.validation},
      {"validation_images", s.validation_images},
      {"device", s.device},
      {"device_name", s.device_name},
      {"tf32", s.tf32},
      {"threads", s.threads},
      {"torch_version", s.torch_version},
      {"cifar_exp_version", s.cifar_exp_version},
      {"data_dir", s.data_dir},
      {"started_at", s.started_at},
      {"updated_at", s.updated_at},
      {"resumed", s.resumed},
      {"process", cifar_exp::to_json(s.process)},
      {"reference_accuracy", s.reference_accuracy ? json(*s.reference_accuracy) : json(nullptr)},
      {"class_names", s.class_names},
      {"provenance", s.provenance}};
}

void settings_from_json(RunSummary& s, const json& doc, const std::string& file) {
  s.name = typed<std::string>(doc, "name", file).value_or("");
  s.status = typed<std::string>(doc, "status", file).value_or("completed");
  s.model = typed<std::string>(doc, "model", file).value_or("");
  s.augmentation = typed<bool>(doc, "augmentation", file).value_or(false);
  s.transfer = typed<std::string>(doc, "transfer", file).value_or("");
  s.weights = typed<std::string>(doc, "weights", file);
  s.epochs = typed<int64_t>(doc, "epochs", file).value_or(0);
  s.epochs_completed = typed<int64_t>(doc, "epochs_completed", file).value_or(0);
  s.batch_size = typed<int64_t>(doc, "batch_size", file).value_or(0);
  s.precision = typed<std::string>(doc, "precision", file).value_or("");
  s.seed = typed<int64_t>(doc, "seed", file).value_or(0);
  s.trainable_params = typed<int64_t>(doc, "trainable_params", file).value_or(0);
  s.frozen_params = typed<int64_t>(doc, "frozen_params", file).value_or(0);
  s.train_images = typed<int64_t>(doc, "train_images", file).value_or(0);
  s.test_images = typed<int64_t>(doc, "test_images", file).value_or(0);
  // Runs from before training.validation existed validated on the test split.
  s.validation = typed<std::string>(doc, "validation", file).value_or("test");
  s.validation_images = typed<int64_t>(doc, "validation_images", file).value_or(s.test_images);
  s.device = typed<std::string>(doc, "device", file).value_or("");
  s.device_name = typed<std::string>(doc, "device_name", file).value_or("");
  s.tf32 = typed<bool>(doc, "tf32", file).value_or(false);
  s.threads = typed<int64_t>(doc, "threads", file).value_or(0);
  s.torch_version = typed<std::string>(doc, "torch_version", file).value_or("");
  s.cifar_exp_version = typed<std::string>(doc, "cifar_exp_version", file).value_or("");
  s.data_dir = typed<std::string>(doc, "data_dir", file).value_or("");
  s.started_at = typed<std::string>(doc, "started_at", file).value_or("");
  s.updated_at = typed<std::string>(doc, "updated_at", file).value_or("");
  s.resumed = typed<int64_t>(doc, "resumed", file).value_or(0);
  if (const auto process = schema::object_field(doc, "process", file)) {
    s.process.host = typed<std::string>(*process, "host", file + ": process").value_or("");
    s.process.pid = typed<int64_t>(*process, "pid", file + ": process").value_or(0);
    s.process.start_ticks = typed<int64_t>(*process, "start_ticks", file + ": process").value_or(0);
  }
  s.reference_accuracy = typed<double>(doc, "reference_accuracy", file);
  s.class_names = typed<std::vector<std::string>>(doc, "class_names", file)
                      .value_or(std::vector<std::string>{});
  s.provenance = doc.contains("provenance") ? doc["provenance"] : json(nullptr);
}

}  // namespace

json RunSummary::to_json() const {
  json doc = settings_to_json(*this);
  if (last_val_accuracy) doc["last_val_accuracy"] = *last_val_accuracy;
  if (train_seconds) doc["train_seconds"] = *train_seconds;
  if (feature_seconds) doc["feature_seconds"] = *feature_seconds;
  if (wall_seconds) doc["wall_seconds"] = *wall_seconds;
  if (finished_at) doc["finished_at"] = *finished_at;
  if (results) doc.update(results_to_json(*results));
  if (error) doc["error"] = *error;
  if (stopped_at) doc["stopped_at"] = {{"epoch", stopped_at->first}, {"batch", stopped_at->second}};
  return doc;
}

RunSummary RunSummary::from_json(const json& doc, const std::string& file) {
  RunSummary s;
  settings_from_json(s, doc, file);
  s.last_val_accuracy = typed<double>(doc, "last_val_accuracy", file);
  s.train_seconds = typed<double>(doc, "train_seconds", file);
  s.feature_seconds = typed<double>(doc, "feature_seconds", file);
  s.wall_seconds = typed<double>(doc, "wall_seconds", file);
  s.finished_at = typed<std::string>(doc, "finished_at", file);
  s.results = results_from_json(doc, file);
  s.error = typed<std::string>(doc, "error", file);
  if (const auto stopped = schema::object_field(doc, "stopped_at", file)) {
    s.stopped_at = {typed<int64_t>(*stopped, "epoch", file + ": stopped_at").value_or(0),
                    typed<int64_t>(*stopped, "batch", file + ": stopped_at").value_or(0)};
  }
  return s;
}

namespace schema {

void require_object(const json& doc, const std::string& file) {
  if (!doc.is_object()) {
    throw OutputError(file + ": expected a JSON object, found " + describe(doc));
  }
}

std::optional<std::string> string_field(const json& doc, const std::string& key,
                                        const std::string& file) {
  return typed<std::string>(doc, key, file);
}

std::optional<int64_t> integer_field(const json& doc, const std::string& key,
                                     const std::string& file) {
  return typed<int64_t>(doc, key, file);
}

std::optional<double> number_field(const json& doc, const std::string& key,
                                   const std::string& file) {
  return typed<double>(doc, key, file);
}

std::optional<bool> bool_field(const json& doc, const std::string& key, const std::string& file) {
  return typed<bool>(doc, key, file);
}

std::optional<std::vector<std::string>> strings_field(const json& doc, const std::string& key,
                                                      const std::string& file) {
  return typed<std::vector<std::string>>(doc, key, file);
}

std::optional<json> object_field(const json& doc, const std::string& key, const std::string& file) {
  require_object(doc, file);
  const auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return std::nullopt;
  if (!it->is_object()) {
    throw OutputError(file + ": field \"" + key + "\": expected an object, found " + describe(*it));
  }
  return *it;
}

}  // namespace schema

}  // namespace cifar_exp
