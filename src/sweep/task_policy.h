// How a sweep runs one task (private to src/sweep/): under the sweeps' lock on (output folder,
// name, seed), a completed run is kept, a stopped one with a checkpoint resumed, one another
// process runs skipped, else a new run started in a child process; at its end a failure is
// recorded for `compare` (failure.json).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "cifar_exp/io/files.h"
#include "cifar_exp/sweep/sweep.h"
#include "cifar_exp/sweep/sweep_task.h"

namespace cifar_exp {

// Where and how the runs run: the options every run gets (the sweep's own, its folder, threads
// split between parallel runs unless given) and the binary.
struct RunSetup {
  const SweepPlan& plan;
  const SweepOptions& options;
  const SweepRunOptions& run;
  std::string binary;
  std::optional<int64_t> threads;
  // Runs in a process group of their own (a local sweep, which passes stop signals on), or in
  // the sweep's (a Slurm task: scancel and the time limit signal every process of the step).
  bool own_process_group = true;
};

// The setup for `plan`: this binary unless run.binary names one; with several jobs, the cores
// split between them unless --threads was given.
RunSetup make_setup(const SweepPlan& plan, const SweepOptions& options, const SweepRunOptions& run);

// A task between its start and its end.
struct StartedTask {
  const SweepTask* task = nullptr;
  std::unique_ptr<FileLock> lock;  // the sweeps' lock on (output folder, name, seed)
  pid_t pid = 0;                   // 0: finished without a process (result says how)
  std::string log, error_file, resume_dir, device;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  TaskResult result;
};

// Starts `task` on `device` ("" for the config's): `pid` is 0 when it ended at once (kept,
// skipped), `result` saying how; else its process runs, its log and error file named.
StartedTask start_task(const RunSetup& s, const SweepTask& task, const std::string& device);

// The task's result once its process exited with `exit_code` (a failure recorded).
TaskResult finish_task(const RunSetup& s, StartedTask& started, int exit_code);

}  // namespace cifar_exp
