// The `compare` command: reads run folders, groups them by config name and builds the final
// comparison table (mean and sample standard deviation over seeds), as Markdown, CSV or JSON.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cifar_exp {

// One run folder as found on disk.
struct RunRecord {
  std::string dir;
  std::string name;
  // "completed", or why not: "running", "interrupted", "crashed" (summary says running but its
  // process is gone), "failed", "incomplete" (no readable summary)
  std::string status;
  nlohmann::json summary;            // summary.json (or a sweep's failure.json), empty when absent
  nlohmann::json config;             // config.json (the resolved config), empty when absent
  std::vector<double> val_accuracy;  // metrics.csv, per epoch
  std::string problem;               // for runs that are not complete: what is known
  bool complete() const { return status == "completed"; }
};

// Every run folder in `paths`: each path is a run folder or a folder of run folders. A run
// folder holds summary.json, metrics.csv, config.json or failure.json (written by sweep.sh when
// a run could not start). Throws Error naming a path that does not exist.
std::vector<RunRecord> find_runs(const std::vector<std::string>& paths);

struct Stat {
  double mean = 0, std = 0;  // std: sample standard deviation (n - 1); 0 for one value
  int64_t n = 0;
};
Stat mean_std(const std::vector<double>& values);

// A sweep's grid point is part of the run name: "base+training.epochs=30+training.batch_size=64".
// Returns the keys with the text after each "=" ({} for a plain name).
std::vector<std::pair<std::string, std::string>> grid_of_name(const std::string& name);

struct ComparisonRow {
  std::string name, model, transfer;
  // The grid point (keys from the name, values from the runs' config.json, else the name's text).
  std::vector<std::pair<std::string, nlohmann::json>> grid;
  bool augmentation = false;
  int64_t epochs = 0;
  int64_t runs = 0;        // completed runs (seeds)
  int64_t incomplete = 0;  // runs found that did not complete
  Stat test_accuracy, test_error, best_val_accuracy, train_seconds, images_per_second;
  int64_t trainable_params = 0, frozen_params = 0;
  std::optional<double> reference_accuracy;
  std::string note;  // e.g. "missing weights: run scripts/download_vgg16_weights.sh"
};

// Groups by config name, in order of first appearance; the grid points of one base name follow
// each other, ordered by their values.
std::vector<ComparisonRow> compare_runs(const std::vector<RunRecord>& runs);

// Each key varied by a grid is a column after the configuration (in the order first seen).
std::string format_markdown(const std::vector<ComparisonRow>& rows);
std::string format_csv(const std::vector<ComparisonRow>& rows);
nlohmann::json to_json(const std::vector<ComparisonRow>& rows);

// `compare --runs`: one line per run folder (dir, name, seed, status), as markdown | csv | json.
// What sweeps read to decide what to skip, resume or start.
std::string format_runs(const std::vector<RunRecord>& runs, const std::string& format);

}  // namespace cifar_exp
