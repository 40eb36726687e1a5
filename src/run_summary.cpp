// EpochMetrics and RunSummary to and from their files (run_summary.h).
#include "cifar_exp/run_summary.h"

#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <limits>
#include <sstream>

#include "cifar_exp/logging.h"

namespace cifar_exp {
namespace {

using json = nlohmann::json;

// doc[key] as T, or `fallback` when it is missing or of another type (older or hand-edited
// files must not stop `compare`).
template <typename T>
T field(const json& doc, const char* key, T fallback) {
  if (!doc.is_object()) return fallback;
  const auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    return fallback;
  }
}

template <typename T>
std::optional<T> optional_field(const json& doc, const char* key) {
  if (!doc.is_object() || !doc.contains(key) || doc.at(key).is_null()) return std::nullopt;
  try {
    return doc.at(key).get<T>();
  } catch (const json::exception&) {
    return std::nullopt;
  }
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
  std::ostringstream out;
  out << epoch << ',' << fixed(train_loss, 6) << ',' << fixed(train_accuracy, 6) << ','
      << fixed(train_error(), 6) << ',' << fixed(val_loss, 6) << ',' << fixed(val_accuracy, 6)
      << ',' << fixed(val_error(), 6) << ',' << fixed(seconds, 3) << ','
      << fixed(images_per_second, 1);
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
  m.epoch = field<int64_t>(row, "epoch", 0);
  m.train_loss = field<double>(row, "train_loss", kNotRecorded);
  m.train_accuracy = field<double>(row, "train_accuracy", kNotRecorded);
  m.val_loss = field<double>(row, "val_loss", kNotRecorded);
  m.val_accuracy = field<double>(row, "val_accuracy", kNotRecorded);
  m.seconds = field<double>(row, "seconds", kNotRecorded);
  m.images_per_second = field<double>(row, "images_per_second", kNotRecorded);
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

std::optional<SummaryResults> results_from_json(const json& doc) {
  if (!optional_field<double>(doc, "test_accuracy")) return std::nullopt;
  SummaryResults r;
  r.test_accuracy = field<double>(doc, "test_accuracy", 0.0);
  r.test_error = field<double>(doc, "test_error", 1.0 - r.test_accuracy);
  r.test_loss = field<double>(doc, "test_loss", 0.0);
  r.best_epoch = field<int64_t>(doc, "best_epoch", 0);
  r.best_val_accuracy = field<double>(doc, "best_val_accuracy", 0.0);
  r.images_per_second = field<double>(doc, "images_per_second", 0.0);
  r.per_class_accuracy = field<std::vector<double>>(doc, "per_class_accuracy", {});
  r.confusion_matrix = field<std::vector<std::vector<int64_t>>>(doc, "confusion_matrix", {});
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

void settings_from_json(RunSummary& s, const json& doc) {
  s.name = field<std::string>(doc, "name", "");
  s.status = field<std::string>(doc, "status", "completed");
  s.model = field<std::string>(doc, "model", "");
  s.augmentation = field<bool>(doc, "augmentation", false);
  s.transfer = field<std::string>(doc, "transfer", "");
  s.weights = optional_field<std::string>(doc, "weights");
  s.epochs = field<int64_t>(doc, "epochs", 0);
  s.epochs_completed = field<int64_t>(doc, "epochs_completed", 0);
  s.batch_size = field<int64_t>(doc, "batch_size", 0);
  s.precision = field<std::string>(doc, "precision", "");
  s.seed = field<int64_t>(doc, "seed", 0);
  s.trainable_params = field<int64_t>(doc, "trainable_params", 0);
  s.frozen_params = field<int64_t>(doc, "frozen_params", 0);
  s.train_images = field<int64_t>(doc, "train_images", 0);
  s.test_images = field<int64_t>(doc, "test_images", 0);
  s.device = field<std::string>(doc, "device", "");
  s.device_name = field<std::string>(doc, "device_name", "");
  s.tf32 = field<bool>(doc, "tf32", false);
  s.threads = field<int64_t>(doc, "threads", 0);
  s.torch_version = field<std::string>(doc, "torch_version", "");
  s.cifar_exp_version = field<std::string>(doc, "cifar_exp_version", "");
  s.data_dir = field<std::string>(doc, "data_dir", "");
  s.started_at = field<std::string>(doc, "started_at", "");
  s.updated_at = field<std::string>(doc, "updated_at", "");
  s.resumed = field<int64_t>(doc, "resumed", 0);
  s.process = process_from_json(doc.is_object() ? doc.value("process", json::object()) : json());
  s.reference_accuracy = optional_field<double>(doc, "reference_accuracy");
  s.class_names = field<std::vector<std::string>>(doc, "class_names", {});
  s.provenance = doc.is_object() ? doc.value("provenance", json(nullptr)) : json(nullptr);
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

RunSummary RunSummary::from_json(const json& doc) {
  RunSummary s;
  settings_from_json(s, doc);
  s.last_val_accuracy = optional_field<double>(doc, "last_val_accuracy");
  s.train_seconds = optional_field<double>(doc, "train_seconds");
  s.feature_seconds = optional_field<double>(doc, "feature_seconds");
  s.wall_seconds = optional_field<double>(doc, "wall_seconds");
  s.finished_at = optional_field<std::string>(doc, "finished_at");
  s.results = results_from_json(doc);
  s.error = optional_field<std::string>(doc, "error");
  if (doc.is_object() && doc.contains("stopped_at") && doc["stopped_at"].is_object()) {
    s.stopped_at = {field<int64_t>(doc["stopped_at"], "epoch", 0),
                    field<int64_t>(doc["stopped_at"], "batch", 0)};
  }
  return s;
}

}  // namespace cifar_exp
