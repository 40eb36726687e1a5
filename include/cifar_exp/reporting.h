// Everything a run leaves behind: its folder, the console story, metrics files and the summary.
// Files are written atomically and durably (files.h), so a crash never leaves half a file.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "cifar_exp/files.h"
#include "cifar_exp/training.h"

namespace cifar_exp {

// Creates `<output_dir>/<name>-<UTC timestamp>` (adding -2, -3, ... rather than reusing a
// folder) and returns its path. OutputError when the folder cannot be made.
std::string create_run_directory(const std::string& output_dir, const std::string& name);

// Checks that `output_dir` exists or can be created and is writable, without leaving anything.
void check_output_dir(const std::string& output_dir);

// Console logger (stdout); add_log_file() makes it also write the run's train.log.
std::shared_ptr<spdlog::logger> console_logger();
void add_log_file(const std::shared_ptr<spdlog::logger>& logger, const std::string& path);

// "Epoch 3/10: loss 0.9, accuracy 62.18%, error 37.82%, val_loss ..., val_accuracy ..."
class EpochLogger : public TrainingCallback {
 public:
  explicit EpochLogger(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}
  void on_train_begin(int64_t epochs, int64_t batches_per_epoch) override;
  void on_epoch_end(const EpochMetrics& m, const EvaluationResult& val) override;

 private:
  std::shared_ptr<spdlog::logger> logger_;
  int64_t epochs_ = 0;
};

// A progress bar within each epoch on stderr, only when stderr is a terminal.
class ProgressBar : public TrainingCallback {
 public:
  ProgressBar();
  void on_batch_end(const BatchProgress& progress) override;
  void on_epoch_end(const EpochMetrics& m, const EvaluationResult& val) override;

 private:
  bool enabled_;
  int64_t last_drawn_ = -1;
};

// metrics.csv and metrics.jsonl, rewritten (atomically) after every epoch.
class MetricsWriter : public TrainingCallback {
 public:
  // `earlier`: epochs completed before a resume, kept at the top of the files.
  explicit MetricsWriter(std::string run_dir, std::vector<EpochMetrics> earlier = {})
      : run_dir_(std::move(run_dir)), rows_(std::move(earlier)) {}
  void on_epoch_end(const EpochMetrics& m, const EvaluationResult& val) override;

  static const char* csv_header();
  static std::string csv_row(const EpochMetrics& m);
  static nlohmann::json to_json(const EpochMetrics& m);

 private:
  std::string run_dir_;
  std::vector<EpochMetrics> rows_;
};

// Writes an 8-bit RGB picture (uint8 H x W x 3) as a PNG file through libpng, atomically.
void write_png(const std::string& path, const torch::Tensor& rgb);

// The current UTC time formatted by strftime, e.g. utc_now("%Y-%m-%dT%H:%M:%SZ").
std::string utc_now(const char* format);

// Formats a fraction as a percentage with two decimals: 0.62184 -> "62.18%".
std::string percent(double fraction);

}  // namespace cifar_exp
