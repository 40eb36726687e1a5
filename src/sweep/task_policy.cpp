// How a sweep runs one task (task_policy.h).
#include "sweep/task_policy.h"

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <thread>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/process.h"
#include "cifar_exp/records/run_folder.h"
#include "cifar_exp/records/run_records.h"
#include "cifar_exp/records/sweep_folder.h"

namespace fs = std::filesystem;
using nlohmann::json;

using Clock = std::chrono::steady_clock;

namespace cifar_exp {
namespace {

// The task's runs already in the output folder, as `compare --runs` sees them, that compute
// what the task does.
struct ExistingRuns {
  std::string completed, resumable, running;
};
ExistingRuns existing_runs(const SweepPlan& plan, const SweepTask& task) {
  ExistingRuns found;
  for (const RunRecord& run : find_runs({plan.output_dir})) {
    if (run.name != task.name || run.seed != task.seed) continue;
    // Runs with other settings are never the task's (plan_sweep refused them, or the sweep
    // was told to start beside them).
    if (!computes_task(run, task)) continue;
    if (run.complete()) {
      // The newest (folder names end in their UTC start time).
      if (found.completed.empty() || run.dir > found.completed) found.completed = run.dir;
      continue;
    }
    // "running" means alive, or on another host (its liveness unknown): `resume` finds out
    // through the run's lock, and exits 8 if it really runs.
    const bool stopped =
        run.status == "interrupted" || run.status == "crashed" || run.status == "running";
    std::error_code ec;
    if (stopped && fs::is_regular_file(RunFolder(run.dir).checkpoint(), ec)) {
      found.resumable = run.dir;
    }
    if (run.status == "running") found.running = run.dir;
  }
  return found;
}

std::vector<std::string> train_arguments(const RunSetup& s, const SweepTask& task,
                                         const std::string& device) {
  ConfigOverrides o = s.options.overrides;
  o.output_dir = s.plan.output_dir;
  o.seed = task.seed;
  o.threads = s.threads;
  if (!device.empty()) o.device = device;
  o.set.insert(o.set.end(), task.set.begin(), task.set.end());
  std::vector<std::string> args = {s.binary, "train", "--config", task.config};
  for (auto& a : override_arguments(o)) args.push_back(a);
  return args;
}

// A resumed run keeps its recorded config; only where the data is, the device and (when given)
// the threads carry over.
std::vector<std::string> resume_arguments(const RunSetup& s, const std::string& dir,
                                          const std::string& device) {
  const ConfigOverrides& o = s.options.overrides;
  std::vector<std::string> args = {s.binary, "resume", dir};
  if (o.data_dir) args.insert(args.end(), {"--data-dir", *o.data_dir});
  if (o.threads) args.insert(args.end(), {"--threads", std::to_string(*o.threads)});
  const std::string chosen = device.empty() ? o.device.value_or("") : device;
  if (!chosen.empty()) args.insert(args.end(), {"--device", chosen});
  return args;
}

// failure.json: what `compare` needs to describe a run that failed (run_records.cpp reads it).
void record_failure(const RunSetup& s, const SweepTask& task, const TaskResult& result,
                    const std::string& log) {
  std::vector<std::string> set = s.options.overrides.set;
  set.insert(set.end(), task.set.begin(), task.set.end());
  const json failure = {{"name", task.name},
                        {"seed", task.seed},
                        {"config", task.config},
                        {"set", set},
                        {"exit_code", result.exit_code},
                        {"error", result.message},
                        {"log", log}};
  const std::string dir = SweepFolder(s.plan.output_dir).failed_run(task.name, task.seed);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw OutputError(dir + ": cannot create: " + ec.message());
  write_file_atomic(RunFolder(dir).failure(), json_text(failure) + "\n");
}

}  // namespace

RunSetup make_setup(const SweepPlan& plan, const SweepOptions& options,
                    const SweepRunOptions& run) {
  RunSetup setup{plan, options, run, run.binary.empty() ? this_binary() : run.binary, {}, true};
  setup.threads = options.overrides.threads;
  if (!setup.threads && run.jobs > 1) {
    const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
    setup.threads = std::max<int64_t>(1, cores / run.jobs);
  }
  return setup;
}

StartedTask start_task(const RunSetup& s, const SweepTask& task, const std::string& device) {
  StartedTask started;
  started.task = &task;
  started.device = device;
  TaskResult& result = started.result;
  std::error_code ec;
  const SweepFolder folder(s.plan.output_dir);
  fs::create_directories(folder.logs(), ec);
  auto lock = FileLock::try_acquire(folder.sweep_lock(task.name, task.seed));
  if (!lock) {
    result.outcome = TaskOutcome::kSkipped;
    result.message =
        task.name + " seed " + std::to_string(task.seed) + " is being run by another sweep";
    return started;
  }
  started.lock = std::make_unique<FileLock>(std::move(*lock));
  const ExistingRuns existing = existing_runs(s.plan, task);
  if (!existing.completed.empty()) {
    result.outcome = TaskOutcome::kAlreadyComplete;
    result.run_dir = existing.completed;
    return started;
  }
  if (existing.resumable.empty() && !existing.running.empty()) {
    result.outcome = TaskOutcome::kSkipped;
    result.message = task.name + " seed " + std::to_string(task.seed) +
                     " is running in another process (" + existing.running + ")";
    return started;
  }
  fs::remove_all(folder.failed_run(task.name, task.seed), ec);
  started.log = folder.run_log(task.name, task.seed);
  started.error_file = folder.run_error(task.name, task.seed);
  fs::remove(started.error_file, ec);
  started.resume_dir = existing.resumable;
  if (!started.resume_dir.empty()) {
    write_file_atomic(started.log, "resuming " + started.resume_dir + "\n");
  }
  const auto args = started.resume_dir.empty() ? train_arguments(s, task, device)
                                               : resume_arguments(s, started.resume_dir, device);
  started.start = Clock::now();
  started.pid =
      spawn(args, started.log, /*append=*/!started.resume_dir.empty(),
            {std::string(kErrorFileVariable) + "=" + started.error_file}, s.own_process_group);
  return started;
}

TaskResult finish_task(const RunSetup& s, StartedTask& started, int exit_code) {
  const SweepTask& task = *started.task;
  TaskResult result;
  result.exit_code = exit_code;
  result.resumed = !started.resume_dir.empty();
  result.seconds = std::chrono::duration<double>(Clock::now() - started.start).count();
  std::error_code ec;
  if (fs::is_regular_file(started.error_file, ec)) {
    std::istringstream text(read_file(started.error_file));
    std::getline(text, result.message);
    fs::remove(started.error_file, ec);
  }
  if (exit_code == 0) {
    result.outcome = TaskOutcome::kDone;
    result.run_dir = result.resumed ? started.resume_dir : existing_runs(s.plan, task).completed;
    if (!result.run_dir.empty()) {
      for (const RunRecord& run : find_runs({result.run_dir})) {
        if (run.complete() && run.summary.results) {
          result.test_accuracy = run.summary.results->test_accuracy;
        }
      }
    }
  } else if (exit_code == int(ExitCode::kBusy)) {
    result.outcome = TaskOutcome::kSkipped;
  } else if (exit_code == int(ExitCode::kInterrupted)) {
    result.outcome = TaskOutcome::kInterrupted;
  } else {
    result.outcome = TaskOutcome::kFailed;
    if (result.message.empty()) {
      result.message =
          "exited with status " + std::to_string(exit_code) + " (see " + started.log + ")";
    }
    record_failure(s, task, result, started.log);
  }
  return result;
}

}  // namespace cifar_exp
