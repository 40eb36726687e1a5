// The schema of what a run records about itself: EpochMetrics (one row of metrics.csv and
// metrics.jsonl, and of a checkpoint's history) and RunSummary (summary.json). Every writer and
// reader — the run itself, checkpoints, `compare`, the scripts through `compare --format json`,
// and the tests — goes through these, so a field is named in one place.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cifar_exp/io/files.h"

namespace cifar_exp {

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  double train_loss = 0, train_accuracy = 0;
  double val_loss = 0, val_accuracy = 0;
  double seconds = 0;            // whole epoch, training and evaluation
  double images_per_second = 0;  // training images over training time
  // The rate of the epoch's last optimizer step (training.lr_schedule); NaN: not recorded.
  double learning_rate = std::numeric_limits<double>::quiet_NaN();
  double train_error() const { return 1.0 - train_accuracy; }
  double val_error() const { return 1.0 - val_accuracy; }

  // metrics.csv: its header line, and a row (fixed decimals, errors derived).
  static std::string csv_header();
  std::string csv_row() const;
  // metrics.jsonl's object for this epoch (errors included).
  nlohmann::json to_json() const;
  // From a metrics.jsonl object or a metrics.csv row keyed by its header names. Never throws:
  // a value missing or not a number reads as NaN ("not recorded", null in to_json), a missing
  // epoch as 0.
  static EpochMetrics from_json(const nlohmann::json& row);
  // metrics.csv's text read by header names (columns may be reordered or added).
  static std::vector<EpochMetrics> from_csv(const std::string& text);
  // The stored numbers in a fixed order, for checkpoints: epoch, then each stored metric column
  // (run_summary.cpp's table; new ones are appended). from_row reads a shorter row of an older
  // checkpoint, the metrics it lacks not recorded (NaN).
  std::vector<double> to_row() const;
  static EpochMetrics from_row(const std::vector<double>& row);
  static int64_t row_size();
};

// The test split's evaluation of the model training left (after the last completed epoch, or
// the best epoch's weights when restore_best_weights restored them), and the best epoch.
struct SummaryResults {
  double test_accuracy = 0, test_error = 0, test_loss = 0;
  // The best epoch by `best_monitor` (training.early_stopping's monitor, else val_accuracy; null
  // without either, when the last epoch stands for the best) and its value.
  int64_t best_epoch = 0;
  std::optional<std::string> best_monitor;
  double best_value = std::numeric_limits<double>::quiet_NaN();
  double best_val_accuracy = 0;
  double images_per_second = 0;
  std::vector<double> per_class_accuracy;
  std::vector<std::vector<int64_t>> confusion_matrix;  // rows true class, columns predicted
};

// summary.json. `status` moves running -> completed | interrupted | failed; a "running" summary
// whose process is gone belongs to a crashed run. Fields a state does not have stay unset and
// are left out of the file.
struct RunSummary {
  // Settings and identity, the same in every state of the run.
  std::string name, status = "running", model;
  bool augmentation = false;
  std::string transfer;                // none | pretrained | random
  std::optional<std::string> weights;  // vgg16_transfer only
  int64_t epochs = 0, epochs_completed = 0, batch_size = 0;
  std::string precision;
  int64_t seed = 0, trainable_params = 0, frozen_params = 0;
  int64_t train_images = 0, test_images = 0;
  std::string validation = "test";  // training.validation: test | split | none
  int64_t validation_images = 0;
  std::string device, device_name;
  bool tf32 = false;
  int64_t threads = 0;
  std::string torch_version, cifar_exp_version, data_dir;
  std::string started_at, updated_at;
  int64_t resumed = 0;      // how many times the run was resumed
  ProcessIdentity process;  // who writes it, to tell a crashed run from a running one
  std::optional<double> reference_accuracy;
  std::vector<std::string> class_names;
  nlohmann::json provenance;  // provenance.h
  // What the run computes apart from its seed (run_identity.h); absent in earlier versions'
  // summaries, whose identity compare derives from config.json.
  std::optional<std::string> fingerprint;
  // The split whose metrics chose the reported model or its last epoch (early stopping on a
  // val_ monitor, restore_best_weights, reduce_on_plateau on a val_ monitor): "test" when that
  // was the test split, which then no longer measures generalisation alone; unset when nothing
  // selected on validation data (selected_on() in config.h).
  std::optional<std::string> selected_on;

  // As the run goes and when it ends.
  std::optional<double> last_val_accuracy;
  std::optional<double> train_seconds, feature_seconds, wall_seconds;
  std::optional<std::string> finished_at;
  std::optional<SummaryResults> results;                  // once an epoch has completed
  std::optional<std::string> error;                       // failed
  std::optional<std::pair<int64_t, int64_t>> stopped_at;  // interrupted: epoch, batch
  // Why training ended: "all_epochs", "early_stopping" or "interrupted"; and whether the model
  // (model.pt, the test results) holds the best epoch's weights (restore_best_weights).
  std::optional<std::string> stop_reason;
  std::optional<bool> restored_best_weights;

  nlohmann::json to_json() const;
  // Tolerant of older and partial files: what is missing (or null) keeps its default; a summary
  // without a status reads as "completed" (the first releases wrote none). What is there must
  // have its type: OutputError naming `file` and the field otherwise (see schema below).
  static RunSummary from_json(const nlohmann::json& doc, const std::string& file = "summary.json");
};

// Typed reading of the JSON files in a run folder (summary.json, failure.json, and the few
// fields of config.json read outside the config parser), which may be hand-edited or written by
// another version: a field missing or null is std::nullopt; a field of another type, or a
// document that is not an object, is an OutputError (exit 5) naming the file and the field:
//   runs/a/summary.json: field "seed": expected an integer, found a string
namespace schema {
void require_object(const nlohmann::json& doc, const std::string& file);
std::optional<std::string> string_field(const nlohmann::json& doc, const std::string& key,
                                        const std::string& file);
std::optional<int64_t> integer_field(const nlohmann::json& doc, const std::string& key,
                                     const std::string& file);
std::optional<double> number_field(const nlohmann::json& doc, const std::string& key,
                                   const std::string& file);
std::optional<bool> bool_field(const nlohmann::json& doc, const std::string& key,
                               const std::string& file);
std::optional<std::vector<std::string>> strings_field(const nlohmann::json& doc,
                                                      const std::string& key,
                                                      const std::string& file);
// A nested object (e.g. "process"), checked to be one.
std::optional<nlohmann::json> object_field(const nlohmann::json& doc, const std::string& key,
                                           const std::string& file);
}  // namespace schema

}  // namespace cifar_exp
