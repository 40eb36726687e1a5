// EpochMetrics and RunSummary to and from their files (run_summary.h).
#include "cifar_exp/records/run_summary.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iomanip>
#include <limits>
#include <sstream>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/logging.h"

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

namespace {

// metrics.csv's and metrics.jsonl's columns after "epoch", in file order; a new metric is one
// line here. `member` is stored (and in a checkpoint's row, in this order); `derived` is computed
// from the stored ones.
struct MetricColumn {
  const char* name;
  double EpochMetrics::*member;
  double (EpochMetrics::*derived)() const;
  int csv_decimals;
  double value(const EpochMetrics& m) const { return member ? m.*member : (m.*derived)(); }
};
const MetricColumn kMetricColumns[] = {
    {"train_loss", &EpochMetrics::train_loss, nullptr, 6},
    {"train_accuracy", &EpochMetrics::train_accuracy, nullptr, 6},
    {"train_error", nullptr, &EpochMetrics::train_error, 6},
    {"val_loss", &EpochMetrics::val_loss, nullptr, 6},
    {"val_accuracy", &EpochMetrics::val_accuracy, nullptr, 6},
    {"val_error", nullptr, &EpochMetrics::val_error, 6},
    {"seconds", &EpochMetrics::seconds, nullptr, 3},
    {"images_per_second", &EpochMetrics::images_per_second, nullptr, 1},
    {"learning_rate", &EpochMetrics::learning_rate, nullptr, 10},
};

}  // namespace

std::string EpochMetrics::csv_header() {
  std::string header = "epoch";
  for (const auto& column : kMetricColumns) header += std::string(",") + column.name;
  return header;
}

std::string EpochMetrics::csv_row() const {
  // A value not recorded (NaN: no validation) is an empty cell, read back as NaN.
  std::string row = std::to_string(epoch);
  for (const auto& column : kMetricColumns) {
    const double v = column.value(*this);
    row += "," + (std::isnan(v) ? std::string() : fixed(v, column.csv_decimals));
  }
  return row;
}

json EpochMetrics::to_json() const {
  // A value not recorded (NaN) is null, in memory as in the file.
  json row = {{"epoch", epoch}};
  for (const auto& column : kMetricColumns) {
    const double v = column.value(*this);
    row[column.name] = std::isnan(v) ? json(nullptr) : json(v);
  }
  return row;
}

EpochMetrics EpochMetrics::from_json(const json& row) {
  EpochMetrics m;
  m.epoch = tolerant<int64_t>(row, "epoch", 0);
  for (const auto& column : kMetricColumns) {
    if (column.member) m.*column.member = tolerant<double>(row, column.name, kNotRecorded);
  }
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
  std::vector<double> row = {double(epoch)};
  for (const auto& column : kMetricColumns) {
    if (column.member) row.push_back(this->*column.member);
  }
  return row;
}

int64_t EpochMetrics::row_size() {
  return 1 + std::count_if(std::begin(kMetricColumns), std::end(kMetricColumns),
                           [](const MetricColumn& column) { return column.member != nullptr; });
}

EpochMetrics EpochMetrics::from_row(const std::vector<double>& row) {
  EpochMetrics m;
  if (row.empty()) return m;
  m.epoch = int64_t(row[0]);
  size_t at = 1;
  for (const auto& column : kMetricColumns) {
    if (!column.member) continue;
    m.*column.member = at < row.size() ? row[at] : kNotRecorded;  // an older, shorter row
    ++at;
  }
  return m;
}

namespace {

// One field of summary.json: its key and how it is written and read (missing or null: the
// default). A new field is one line in its table below; to_json and from_json walk the tables.
template <typename S>
struct SchemaField {
  const char* key;
  std::function<void(const S&, json&)> write;
  std::function<void(S&, const json&, const std::string& file)> read;
};

// Always written; `fallback` when missing or null.
template <typename S, typename T>
SchemaField<S> field(const char* key, T S::*member, T fallback = T{}) {
  return {key, [=](const S& s, json& doc) { doc[key] = s.*member; },
          [=](S& s, const json& doc, const std::string& file) {
            s.*member = typed<T>(doc, key, file).value_or(fallback);
          }};
}

// Written as null when unset (known to be absent for this run).
template <typename S, typename T>
SchemaField<S> nullable(const char* key, std::optional<T> S::*member) {
  return {key, [=](const S& s, json& doc) { doc[key] = s.*member ? json(*(s.*member)) : json(); },
          [=](S& s, const json& doc, const std::string& file) {
            s.*member = typed<T>(doc, key, file);
          }};
}

// Left out when unset (not reached yet in this state of the run).
template <typename S, typename T>
SchemaField<S> when_set(const char* key, std::optional<T> S::*member) {
  return {key,
          [=](const S& s, json& doc) {
            if (s.*member) doc[key] = *(s.*member);
          },
          [=](S& s, const json& doc, const std::string& file) {
            s.*member = typed<T>(doc, key, file);
          }};
}

template <typename S>
void write_schema(const std::vector<SchemaField<S>>& fields, const S& s, json& doc) {
  for (const auto& f : fields) f.write(s, doc);
}

template <typename S>
void read_schema(const std::vector<SchemaField<S>>& fields, S& s, const json& doc,
                 const std::string& file) {
  for (const auto& f : fields) f.read(s, doc, file);
}

using Results = SummaryResults;
using IntTable = std::vector<std::vector<int64_t>>;

// Present from the first completed epoch on (summary.json has them at its top level).
const std::vector<SchemaField<Results>> kResultFields = {
    field("test_accuracy", &Results::test_accuracy, 0.0),
    {"test_error", [](const Results& r, json& doc) { doc["test_error"] = r.test_error; },
     [](Results& r, const json& doc, const std::string& file) {
       r.test_error = typed<double>(doc, "test_error", file).value_or(1.0 - r.test_accuracy);
     }},
    field("test_loss", &Results::test_loss, 0.0),
    field("best_epoch", &Results::best_epoch, int64_t{0}),
    nullable("best_monitor", &Results::best_monitor),
    {"best_value",
     [](const Results& r, json& doc) {
       doc["best_value"] = std::isnan(r.best_value) ? json(nullptr) : json(r.best_value);
     },
     [](Results& r, const json& doc, const std::string& file) {
       r.best_value = typed<double>(doc, "best_value", file).value_or(kNotRecorded);
     }},
    // null: not recorded (a run without validation).
    {"best_val_accuracy",
     [](const Results& r, json& doc) {
       doc["best_val_accuracy"] =
           std::isnan(r.best_val_accuracy) ? json(nullptr) : json(r.best_val_accuracy);
     },
     [](Results& r, const json& doc, const std::string& file) {
       r.best_val_accuracy = typed<double>(doc, "best_val_accuracy", file).value_or(kNotRecorded);
     }},
    field("images_per_second", &Results::images_per_second, 0.0),
    field("per_class_accuracy", &Results::per_class_accuracy),
    field("confusion_matrix", &Results::confusion_matrix, IntTable{}),
};

// summary.json's fields, in file order; the results above come after "provenance".
const std::vector<SchemaField<RunSummary>> kSummaryFields = {
    field("name", &RunSummary::name),
    // The first releases wrote no status, and only when the run had completed.
    field("status", &RunSummary::status, std::string("completed")),
    field("model", &RunSummary::model),
    field("augmentation", &RunSummary::augmentation, false),
    field("transfer", &RunSummary::transfer),
    nullable("weights", &RunSummary::weights),
    field("epochs", &RunSummary::epochs, int64_t{0}),
    field("epochs_completed", &RunSummary::epochs_completed, int64_t{0}),
    field("batch_size", &RunSummary::batch_size, int64_t{0}),
    field("precision", &RunSummary::precision),
    field("seed", &RunSummary::seed, int64_t{0}),
    field("trainable_params", &RunSummary::trainable_params, int64_t{0}),
    field("frozen_params", &RunSummary::frozen_params, int64_t{0}),
    field("train_images", &RunSummary::train_images, int64_t{0}),
    field("test_images", &RunSummary::test_images, int64_t{0}),
    // Runs from before training.validation existed validated on the test split.
    field("validation", &RunSummary::validation, std::string("test")),
    {"validation_images",
     [](const RunSummary& s, json& doc) { doc["validation_images"] = s.validation_images; },
     [](RunSummary& s, const json& doc, const std::string& file) {
       s.validation_images = typed<int64_t>(doc, "validation_images", file).value_or(s.test_images);
     }},
    field("device", &RunSummary::device),
    field("device_name", &RunSummary::device_name),
    field("tf32", &RunSummary::tf32, false),
    field("threads", &RunSummary::threads, int64_t{0}),
    field("torch_version", &RunSummary::torch_version),
    field("cifar_exp_version", &RunSummary::cifar_exp_version),
    field("data_dir", &RunSummary::data_dir),
    field("started_at", &RunSummary::started_at),
    field("updated_at", &RunSummary::updated_at),
    field("resumed", &RunSummary::resumed, int64_t{0}),
    {"process",
     [](const RunSummary& s, json& doc) { doc["process"] = cifar_exp::to_json(s.process); },
     [](RunSummary& s, const json& doc, const std::string& file) {
       const auto process = schema::object_field(doc, "process", file);
       if (!process) return;
       const std::string where = file + ": process";
       s.process.host = typed<std::string>(*process, "host", where).value_or("");
       s.process.pid = typed<int64_t>(*process, "pid", where).value_or(0);
       s.process.start_ticks = typed<int64_t>(*process, "start_ticks", where).value_or(0);
     }},
    nullable("reference_accuracy", &RunSummary::reference_accuracy),
    field("class_names", &RunSummary::class_names),
    when_set("fingerprint", &RunSummary::fingerprint),
    when_set("selected_on", &RunSummary::selected_on),
    {"provenance", [](const RunSummary& s, json& doc) { doc["provenance"] = s.provenance; },
     [](RunSummary& s, const json& doc, const std::string&) {
       s.provenance = doc.contains("provenance") ? doc["provenance"] : json(nullptr);
     }},
    // As the run goes and when it ends.
    when_set("last_val_accuracy", &RunSummary::last_val_accuracy),
    when_set("train_seconds", &RunSummary::train_seconds),
    when_set("feature_seconds", &RunSummary::feature_seconds),
    when_set("wall_seconds", &RunSummary::wall_seconds),
    when_set("finished_at", &RunSummary::finished_at),
    {"test_accuracy",  // and the other results (kResultFields), all at the top level
     [](const RunSummary& s, json& doc) {
       if (s.results) write_schema(kResultFields, *s.results, doc);
     },
     [](RunSummary& s, const json& doc, const std::string& file) {
       s.results.reset();
       if (!typed<double>(doc, "test_accuracy", file)) return;
       s.results.emplace();
       read_schema(kResultFields, *s.results, doc, file);
     }},
    when_set("error", &RunSummary::error),
    when_set("stop_reason", &RunSummary::stop_reason),
    when_set("restored_best_weights", &RunSummary::restored_best_weights),
    {"stopped_at",
     [](const RunSummary& s, json& doc) {
       if (s.stopped_at)
         doc["stopped_at"] = {{"epoch", s.stopped_at->first}, {"batch", s.stopped_at->second}};
     },
     [](RunSummary& s, const json& doc, const std::string& file) {
       const auto stopped = schema::object_field(doc, "stopped_at", file);
       if (!stopped) return;
       s.stopped_at = {typed<int64_t>(*stopped, "epoch", file + ": stopped_at").value_or(0),
                       typed<int64_t>(*stopped, "batch", file + ": stopped_at").value_or(0)};
     }},
};

}  // namespace

json RunSummary::to_json() const {
  json doc = json::object();
  write_schema(kSummaryFields, *this, doc);
  return doc;
}

RunSummary RunSummary::from_json(const json& doc, const std::string& file) {
  schema::require_object(doc, file);
  RunSummary s;
  read_schema(kSummaryFields, s, doc, file);
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
