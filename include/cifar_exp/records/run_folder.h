// A run folder and the files in it: `<output>/<name>-<UTC time>` is made once and never reused;
// summary.json is written through the RunSummary schema; a lock keeps two processes from running
// the same (output folder, config name, seed) at once.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cifar_exp/config/config.h"
#include "cifar_exp/io/files.h"
#include "cifar_exp/records/run_summary.h"

namespace cifar_exp {

// Creates `<output_dir>/<name>-seed<seed>-<UTC timestamp>` (adding -2, -3, ... rather than
// reusing a folder) and returns its path: the seed in the name tells runs apart in a listing and in
// TensorBoard's run selector. OutputError when the folder cannot be made.
std::string create_run_directory(const std::string& output_dir, const std::string& name,
                                 int64_t seed);

// Checks that `output_dir` exists or can be created and is writable, without leaving anything.
void check_output_dir(const std::string& output_dir);

// The files of one run folder, named here and nowhere else (the table of
// docs/outputs-and-tensorboard.md, "What a run writes", describes them).
struct RunFolder {
  static constexpr const char* kConfig = "config.json";    // the resolved config
  static constexpr const char* kSummary = "summary.json";  // RunSummary
  static constexpr const char* kMetricsCsv = "metrics.csv";
  static constexpr const char* kMetricsJsonl = "metrics.jsonl";
  static constexpr const char* kFailure = "failure.json";  // a sweep's run that never started
  static constexpr const char* kCheckpoint = "checkpoint.pt";
  static constexpr const char* kModel = "model.pt";           // torch::save of the module
  static constexpr const char* kBestModel = "model.best.pt";  // the best epoch's, the same way
  static constexpr const char* kWeights = "weights.pt";       // portable, for Python
  static constexpr const char* kLog = "train.log";
  // TensorBoard's sub-runs (tensorboard.h: train/, validation/, test/) are folders of the run
  // folder itself, so that `tensorboard --logdir runs/` names them <run folder>/train, ...; runs
  // made by earlier versions kept them in tensorboard/, which such a run goes on using on resume.
  static constexpr const char* kLegacyTensorBoard = "tensorboard";

  std::filesystem::path dir;
  explicit RunFolder(const std::string& run_dir) : dir(run_dir) {}

  std::string config() const { return file(kConfig); }
  std::string summary() const { return file(kSummary); }
  std::string metrics_csv() const { return file(kMetricsCsv); }
  std::string metrics_jsonl() const { return file(kMetricsJsonl); }
  std::string failure() const { return file(kFailure); }
  std::string checkpoint() const { return file(kCheckpoint); }
  std::string model() const { return file(kModel); }
  std::string best_model() const { return file(kBestModel); }
  std::string model(SavedModel which) const {
    return which == SavedModel::kBest ? best_model() : model();
  }
  std::string weights() const { return file(kWeights); }
  std::string log() const { return file(kLog); }
  // Where the TensorBoard log goes: the run folder, or tensorboard/ for a run that has one.
  std::string tensorboard() const {
    std::error_code ec;
    return std::filesystem::is_directory(dir / kLegacyTensorBoard, ec) ? file(kLegacyTensorBoard)
                                                                       : dir.string();
  }
  // `evaluate`'s results, before their unique suffix: evaluation-<UTC>
  std::string evaluation_stem(const std::string& utc) const { return file("evaluation-" + utc); }
  // The files that make a folder a run folder when any of them is there (compare, find_runs).
  static std::vector<std::string> marker_files() {
    return {kSummary, kMetricsCsv, kConfig, kFailure};
  }

 private:
  std::string file(const std::string& name) const { return (dir / name).string(); }
};

// summary.json, atomically (files.h).
void write_summary(const std::string& path, const RunSummary& summary);

// The lock `<output_dir>/.locks/<name>-seed<seed>.lock` (SweepFolder::run_lock), held while the
// process lives (a crash releases it). BusyError when another process holds it.
FileLock lock_run(const std::string& output_dir, const ExperimentConfig& config);

// Removes the temporary files of a process that died while writing (call with the run's lock).
void remove_stale_temporaries(const std::string& run_dir);

}  // namespace cifar_exp
