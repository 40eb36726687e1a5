// One task of a sweep as the sweep's lines show it: how the runs are run (SweepRunOptions), how
// a task ended (TaskResult), its label, its exit status for `sweep --task` and its line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/sweep/sweep.h"

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

}  // namespace cifar_exp
