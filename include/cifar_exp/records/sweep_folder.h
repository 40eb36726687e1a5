// A folder of runs (a sweep's output folder, or any --output of train) and the files in it,
// named here and nowhere else (docs/sweeps-and-comparison.md describes them). Runs go straight
// in it as `<name>-seed<S>-<UTC time>` folders (run_folder.h); beside them a sweep keeps its
// order, its table, its page and its logs. Per (name, seed) there are two locks: the run's,
// held by the process that trains it, and the sweeps', held by the sweep that runs it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace cifar_exp {

struct SweepFolder {
  static constexpr const char* kOrder = "sweep.json";  // SweepOrder (comparison.h)
  static constexpr const char* kComparisonMarkdown = "comparison.md";
  static constexpr const char* kComparisonCsv = "comparison.csv";
  static constexpr const char* kReport = "report.html";  // report.h
  static constexpr const char* kPlots = "plots";         // scripts/plot_runs.py's PNGs
  static constexpr const char* kLogs = "logs";           // the runs' console output
  static constexpr const char* kLocks = ".locks";

  std::filesystem::path dir;
  explicit SweepFolder(const std::string& output_dir) : dir(output_dir) {}

  std::string order() const { return file(kOrder); }
  std::string comparison_markdown() const { return file(kComparisonMarkdown); }
  std::string comparison_csv() const { return file(kComparisonCsv); }
  std::string report() const { return file(kReport); }
  std::string plots() const { return file(kPlots); }
  std::string logs() const { return file(kLogs); }
  std::string plots_log() const { return (dir / kLogs / "plots.log").string(); }

  // `<name>-seed<seed>`: how every file of one (name, seed) begins.
  static std::string run_key(const std::string& name, int64_t seed) {
    return name + "-seed" + std::to_string(seed);
  }
  // A new run folder's path before its unique suffix: <name>-seed<S>-<UTC time>.
  std::string new_run(const std::string& name, int64_t seed, const std::string& utc) const {
    return file(run_key(name, seed) + "-" + utc);
  }
  // The run name a run folder's name holds: "no_aug_no_tl-seed3-20261128T040129Z-2" (a unique
  // suffix after the time; from earlier versions without "-seed3") -> "no_aug_no_tl"; a folder
  // not named so is its own name.
  static std::string name_of_run_folder(const std::string& folder);
  // Where a sweep records a run that failed before it made a run folder (failure.json).
  std::string failed_run(const std::string& name, int64_t seed) const {
    return file(run_key(name, seed) + "-failed");
  }
  // A sweep's run's console output, and the one-line error its process leaves
  // (kErrorFileVariable, errors.h).
  std::string run_log(const std::string& name, int64_t seed) const {
    return (dir / kLogs / (run_key(name, seed) + ".log")).string();
  }
  std::string run_error(const std::string& name, int64_t seed) const {
    return (dir / kLogs / (run_key(name, seed) + ".error")).string();
  }
  // The run's lock (lock_run, run_folder.h) and the sweeps' lock on the same (name, seed).
  std::string run_lock(const std::string& name, int64_t seed) const {
    return (dir / kLocks / (run_key(name, seed) + ".lock")).string();
  }
  std::string sweep_lock(const std::string& name, int64_t seed) const {
    return (dir / kLocks / (run_key(name, seed) + ".sweep")).string();
  }

 private:
  std::string file(const std::string& name) const { return (dir / name).string(); }
};

}  // namespace cifar_exp
