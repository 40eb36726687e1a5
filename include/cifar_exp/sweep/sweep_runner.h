// Running a sweep's tasks (`cifar-exp sweep`, and `cifar-exp sweep --task I` for one Slurm array
// task): each run in its own cifar-exp process (a crash or an out-of-memory stays in its run),
// its console output in <output>/logs/<name>-seed<S>.log, up to `jobs` at once. Per task, under
// a lock shared with other sweeps on the folder: a completed run of (name, seed) is kept, an
// interrupted or crashed one is resumed in its folder, one another process runs is skipped, a
// failure is recorded in <output>/<name>-seed<S>-failed/failure.json for `compare`.
// This file schedules; src/sweep/task_policy.h decides each task, io/process.h starts and waits
// for the processes, and SweepFolder (sweep_folder.h) names the files.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "cifar_exp/sweep/sweep.h"
#include "cifar_exp/sweep/sweep_task.h"

namespace cifar_exp {

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

}  // namespace cifar_exp
