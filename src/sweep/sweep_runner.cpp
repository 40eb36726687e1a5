// Running a sweep's tasks, up to `jobs` at once, passing stop signals on (sweep_runner.h).
#include "cifar_exp/sweep/sweep_runner.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ostream>
#include <thread>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/process.h"
#include "sweep/task_policy.h"

using Clock = std::chrono::steady_clock;

namespace cifar_exp {
namespace {

// Waits for one of the running tasks to end (polling, so that a stop signal is passed on at
// once); each new signal goes to every run. Returns its index in `running` and exit status.
std::pair<size_t, int> wait_any(std::vector<StartedTask>& running, int& forwarded) {
  for (;;) {
    while (forwarded < stop_signals()) {
      ++forwarded;
      for (const auto& t : running) terminate(t.pid);
    }
    for (size_t i = 0; i < running.size(); ++i) {
      if (const auto status = try_wait(running[i].pid)) return {i, *status};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// The device with the fewest runs on it ("" without --devices).
std::string pick_device(const SweepRunOptions& run, const std::vector<StartedTask>& running) {
  std::string best;
  size_t fewest = SIZE_MAX;
  for (const auto& device : run.devices) {
    const size_t on = std::count_if(running.begin(), running.end(),
                                    [&](const StartedTask& t) { return t.device == device; });
    if (on < fewest) fewest = on, best = device;
  }
  return best;
}

}  // namespace

TaskResult run_sweep_task(const SweepPlan& plan, const SweepOptions& options, int64_t index,
                          const SweepRunOptions& run) {
  if (index < 0 || index >= int64_t(plan.tasks.size())) {
    throw ConfigError("--task " + std::to_string(index) + ": the plan has tasks 0 to " +
                      std::to_string(int64_t(plan.tasks.size()) - 1));
  }
  RunSetup setup = make_setup(plan, options, run);
  setup.own_process_group = false;
  const CountedStopSignals signals;
  std::vector<StartedTask> running;
  running.push_back(start_task(setup, plan.tasks[index], pick_device(run, running)));
  if (running[0].pid == 0) return running[0].result;
  // The step's signal reached the run too: only a second one is passed on.
  int forwarded = 1;
  const int code = wait_any(running, forwarded).second;
  return finish_task(setup, running[0], code);
}

int64_t SweepReport::failed() const {
  return std::count_if(results.begin(), results.end(),
                       [](const TaskResult& r) { return r.outcome == TaskOutcome::kFailed; });
}

bool SweepReport::interrupted() const {
  return std::any_of(results.begin(), results.end(),
                     [](const TaskResult& r) { return r.outcome == TaskOutcome::kInterrupted; });
}

SweepReport run_sweep(const SweepPlan& plan, const SweepOptions& options,
                      const SweepRunOptions& run, std::ostream& out) {
  if (run.jobs < 1) throw ConfigError("--jobs: must be a positive integer");
  const RunSetup setup = make_setup(plan, options, run);
  const auto start = Clock::now();
  SweepReport report;
  report.results.resize(plan.tasks.size());
  const CountedStopSignals signals;
  int forwarded = 0;
  std::vector<StartedTask> running;
  size_t next = 0;
  while (true) {
    while (stop_signals() == 0 && next < plan.tasks.size() && int64_t(running.size()) < run.jobs) {
      const SweepTask& task = plan.tasks[next++];
      TaskResult& result = report.results[task.index];
      if (!task.completed_dir.empty()) {
        result.outcome = TaskOutcome::kAlreadyComplete;
        result.run_dir = task.completed_dir;
        out << task_label(plan, task) << ": " << describe(result) << std::endl;
        continue;
      }
      StartedTask started = start_task(setup, task, pick_device(run, running));
      if (started.pid == 0) {
        result = started.result;
        out << task_label(plan, task) << ": " << describe(result) << std::endl;
        continue;
      }
      out << task_label(plan, task) << ": running"
          << (started.resume_dir.empty() ? "" : " (resuming)")
          << (started.device.empty() ? "" : " on " + started.device)
          << (run.jobs == 1 ? " ... " : "\n") << std::flush;
      running.push_back(std::move(started));
    }
    if (running.empty()) break;
    const auto [i, code] = wait_any(running, forwarded);
    const SweepTask& task = *running[i].task;
    TaskResult& result = report.results[task.index];
    result = finish_task(setup, running[i], code);
    out << (run.jobs == 1 ? "" : task_label(plan, task) + ": ") << describe(result) << std::endl;
    running.erase(running.begin() + std::ptrdiff_t(i));
  }
  if (stop_signals() > 0 && !report.interrupted() && next < plan.tasks.size()) {
    report.results[next].outcome = TaskOutcome::kInterrupted;  // none had started
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return report;
}

}  // namespace cifar_exp
