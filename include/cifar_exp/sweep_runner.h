// Running a sweep's tasks (`cifar-exp sweep`, and `cifar-exp sweep --task I` for one Slurm array
// task): each run in its own cifar-exp process (a crash or an out-of-memory stays in its run),
// its console output in <output>/logs/<name>-seed<S>.log, up to `jobs` at once. Per task, under
// a lock shared with other sweeps on the folder: a completed run of (name, seed) is kept, an
// interrupted or crashed one is resumed in its folder, one another process runs is skipped, a
// failure is recorded in <output>/<name>-seed<S>-failed/failure.json for `compare`.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "cifar_exp/errors.h"
#include "cifar_exp/sweep.h"

namespace cifar_exp {

struct SweepRunOptions {
  int64_t jobs = 1;                  // runs at once
  std::vector<std::string> devices;  // runs spread over these (the one with fewest runs first)
  std::string binary;                // the cifar-exp the runs use; "" = this process's binary
  // Plots after the comparison: this Python ("" = $PLOT_PYTHON, else /usr/bin/python3) runs
  // scripts/plot_runs.py when it has matplotlib.
  std::string plot_python;
};

enum class TaskOutcome { kDone, kAlreadyComplete, kSkipped, kFailed, kInterrupted };

struct TaskResult {
  TaskOutcome outcome = TaskOutcome::kDone;
  std::string run_dir;                  // kDone, kAlreadyComplete (and a failed resume)
  std::optional<double> test_accuracy;  // kDone
  int exit_code = 0;                    // the run's process (kFailed, kInterrupted)
  std::string message;                  // kSkipped: why; kFailed: the run's error
  bool resumed = false;
  double seconds = 0;
};

// "[3/8] NAME seed 2": how the sweep's lines name a task.
std::string task_label(const SweepPlan& plan, const SweepTask& task);

// The task's exit status for `sweep --task`: 0 done or complete before, 8 (kBusy) skipped, else
// the run's.
int exit_code_of(const TaskResult& result);

// "done in 12 s: test accuracy 41.20% (DIR)", "already complete (DIR)", "skipped: ...",
// "FAILED (exit 4): ..." (with a hint on the next line for missing weights).
std::string describe(const TaskResult& result);

// Runs the plan's task `index` to its end (a Slurm array task). The run stays in this process's
// group, where Slurm's scancel and time limit signal it directly; a second stop signal to this
// process is passed on. ConfigError for an index outside the plan.
TaskResult run_sweep_task(const SweepPlan& plan, const SweepOptions& options, int64_t index,
                          const SweepRunOptions& run);

struct SweepReport {
  std::vector<TaskResult> results;  // in task order
  double seconds = 0;
  int64_t failed() const;
  bool interrupted() const;
};

// Runs every task, `run.jobs` at once, printing a line per task to `out` ("[3/8] NAME seed 2:
// running ... done in ..."). Ctrl-C or SIGTERM is passed on to the runs (each checkpoints and
// stops, to be resumed by the next sweep) and no further run starts.
SweepReport run_sweep(const SweepPlan& plan, const SweepOptions& options,
                      const SweepRunOptions& run, std::ostream& out);

// After the runs: prints the comparison of the sweep's folder to `out` and writes
// comparison.md and comparison.csv there, then draws plots/ (scripts/plot_runs.py) when Python
// with matplotlib is there, saying so either way.
void report_sweep(const SweepPlan& plan, const SweepRunOptions& run, std::ostream& out);

}  // namespace cifar_exp
