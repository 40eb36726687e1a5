// Sweep planning (`cifar-exp sweep --plan`): configurations x grid points x seeds as a task list,
// each task with its run name, the --set values it runs with and the completed run it already
// has in the output folder, if any. sweep_runner.h runs the tasks (`cifar-exp sweep`, and
// `--task I` for Slurm array jobs); the grid grammar, config lookup and run names live here only.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cifar_exp/config/config.h"
#include "cifar_exp/config/defaults.h"
#include "cifar_exp/records/run_identity.h"

namespace cifar_exp {

// `--grid KEY=V1,V2,...`: the values are split at the commas outside [...], {...} and "..."
// (each value is JSON, or text, as for --set). ConfigError naming the flag for a key that is
// not a config key path, one the sweep sets itself (name, training.seed, output.dir), an empty
// value, or a value with a tab or newline.
struct GridAxis {
  std::string key;
  std::vector<std::string> values;
};
GridAxis parse_grid_axis(const std::string& spec);

// One grid point: KEY=VALUE settings, the first axis varying slowest.
using GridPoint = std::vector<std::pair<std::string, std::string>>;
// The cross product of the axes; one empty point without axes. ConfigError for axes whose keys
// overlap (the same key, or one inside the other).
std::vector<GridPoint> grid_points(const std::vector<GridAxis>& axes);

// A grid point's run name: BASE+KEY=VALUE+..., each value reduced to name characters
// ([0.8, 1.2] -> 0.8_1.2, "reflect" -> reflect). `compare` reads the keys back (RunName::parse).
std::string grid_point_name(const std::string& base, const GridPoint& point);

// The most runs one sweep plans (configurations x grid points x seeds): a larger plan is
// refused before it is built, as a typo (--seeds 1000000000) rather than a sweep.
constexpr int64_t kMaxSweepRuns = 10000;

struct SweepOptions {
  std::vector<std::string> configs =
      std::vector<std::string>(kNotebookConfigs.begin(), kNotebookConfigs.end());
  int64_t seeds = 1;              // seeds 1..N
  std::vector<std::string> grid;  // --grid specs
  std::string output_dir = "runs/sweep";
  ConfigOverrides overrides;  // every run's (--epochs, --set, --data-dir, ...)
  // --beside-changed: runs in the output folder made with other settings than a task's are
  // left alone and the task starts afresh beside them (by default the sweep refuses).
  bool beside_changed = false;
};

struct RunRecord;

struct SweepTask {
  int64_t index = 0;
  std::string config;  // the config file, absolute
  std::string name;    // the run's name
  int64_t seed = 1;
  std::vector<std::string> set;  // --set values of a grid point's run: name=NAME, KEY=VALUE...
  std::string completed_dir;     // a completed run of this task in the output folder, or ""
  RunIdentity identity;          // what the task computes (data files: null when not found)
};

// Whether `run` (of the task's name and seed) computed what `task` would: a readable config with
// the same settings, and the same data files where both are known. Only such a run is skipped
// as completed or resumed for the task.
bool computes_task(const RunRecord& run, const SweepTask& task);

struct SweepPlan {
  std::string output_dir;  // absolute
  int64_t configurations = 0, points = 0, seeds = 0;
  std::vector<SweepTask> tasks;
  int64_t completed() const;
};

// Resolves every config at every grid point (as `cifar-exp --config FILE --set ...` would, so
// that a mistake stops the sweep before any run) and lists the tasks. Reads the output folder's
// runs when it exists; writes nothing. ConfigError naming the config and grid point otherwise;
// for two grid points that give one run name or the same settings (0.001 and 1e-3); for two
// configurations of one name; and, unless options.beside_changed, for runs in the output folder
// with a task's name and seed that computed something else (naming them and the keys).
SweepPlan plan_sweep(const SweepOptions& options);

// Creates the output folder with logs/ and records the sweep's order in its sweep.json (names
// an earlier sweep into the folder listed stay first, so that adding seeds keeps the table's
// order and baseline). OutputError when the folder or file cannot be written.
void prepare_sweep_folder(const SweepPlan& plan);

// "Sweep: 1 configuration(s) x 4 grid point(s) x 2 seed(s) = 8 runs (0 of them completed before)."
std::string describe_plan(const SweepPlan& plan);

// The plan as JSON ({output_dir, configurations, points, seeds, total, completed, tasks: [{index,
// config, name, seed, set, status, run_dir}]}) or as TSV: a header line, then one line per task
// with index, status (completed | pending), seed, name, config, output_dir, run_dir ("-" when
// pending) and the --set values joined by the unit separator \x1f (last: empty for a plain
// configuration).
nlohmann::json to_json(const SweepPlan& plan);
std::string format_tsv(const SweepPlan& plan);

}  // namespace cifar_exp
