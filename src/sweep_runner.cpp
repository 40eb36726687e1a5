// Running a sweep's tasks in child processes (sweep_runner.h).
#include "cifar_exp/sweep_runner.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <map>
#include <memory>
#include <ostream>
#include <sstream>
#include <thread>

#include "cifar_exp/comparison.h"
#include "cifar_exp/files.h"
#include "cifar_exp/report.h"
#include "cifar_exp/run_folder.h"
#include "cifar_exp/run_records.h"

extern char** environ;

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace cifar_exp {
namespace {

std::string this_binary() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find this program's file (/proc/self/exe)");
  return exe.string();
}

// Starts `argv` (argv[0]: the program's path) with stdout and stderr into `log`, stdin from
// /dev/null and `env` ("NAME=VALUE") added to this environment. With `own_group` the child is in
// a process group of its own, so that a Ctrl-C reaches only the sweep, which passes it on once
// (a second signal would stop a run before its checkpoint). It gets SIGTERM should the sweep die.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log, bool append,
            const std::vector<std::string>& env = {}, bool own_group = true) {
  const int out =
      ::open(log.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
  if (out < 0) throw OutputError(log + ": cannot create: " + std::strerror(errno));
  const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> added = env;
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const bool replaced = std::any_of(added.begin(), added.end(), [&](const std::string& a) {
      return entry.compare(0, a.find('=') + 1, a, 0, a.find('=') + 1) == 0;
    });
    if (!replaced) envp.push_back(*e);
  }
  for (auto& a : added) envp.push_back(a.data());
  envp.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {  // only async-signal-safe calls until exec
    if (own_group) ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(int(ExitCode::kInterrupted));
    if (in >= 0) ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execve(args[0], args.data(), envp.data());
    const char message[] = "cifar-exp sweep: cannot execute the program\n";
    [[maybe_unused]] const auto written = ::write(2, message, sizeof message - 1);
    ::_exit(127);
  }
  const int error = errno;
  ::close(out);
  if (in >= 0) ::close(in);
  if (pid < 0) throw OutputError("cannot start " + argv[0] + ": " + std::strerror(error));
  return pid;
}

int exit_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 1;
  }
  return exit_status(status);
}

// Ctrl-C and SIGTERM while the sweep runs: counted, and passed on to the runs by the wait loop.
volatile std::sig_atomic_t g_stop_signals = 0;
extern "C" void on_sweep_stop_signal(int) { g_stop_signals = g_stop_signals + 1; }

class StopSignals {
 public:
  StopSignals() {
    struct sigaction action {};
    action.sa_handler = on_sweep_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

std::string task_file(const SweepPlan& plan, const SweepTask& task, const std::string& folder,
                      const std::string& suffix) {
  return (fs::path(plan.output_dir) / folder /
          (task.name + "-seed" + std::to_string(task.seed) + suffix))
      .string();
}
std::string log_of(const SweepPlan& plan, const SweepTask& task) {
  return task_file(plan, task, "logs", ".log");
}
std::string failed_dir_of(const SweepPlan& plan, const SweepTask& task) {
  return task_file(plan, task, "", "-failed");
}

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

// A task between its start and its end.
struct StartedTask {
  const SweepTask* task = nullptr;
  std::unique_ptr<FileLock> lock;  // the sweeps' lock on (output folder, name, seed)
  pid_t pid = 0;                   // 0: finished without a process (result says how)
  std::string log, error_file, resume_dir, device;
  Clock::time_point start = Clock::now();
  TaskResult result;
};

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

StartedTask start_task(const RunSetup& s, const SweepTask& task, const std::string& device) {
  StartedTask started;
  started.task = &task;
  started.device = device;
  TaskResult& result = started.result;
  std::error_code ec;
  fs::create_directories(fs::path(s.plan.output_dir) / "logs", ec);
  auto lock = FileLock::try_acquire(task_file(s.plan, task, ".locks", ".sweep"));
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
  fs::remove_all(failed_dir_of(s.plan, task), ec);
  started.log = log_of(s.plan, task);
  started.error_file = task_file(s.plan, task, "logs", ".error");
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
  const std::string dir = failed_dir_of(s.plan, task);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw OutputError(dir + ": cannot create: " + ec.message());
  write_file_atomic(RunFolder(dir).failure(), json_text(failure) + "\n");
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

// Waits for one of the running tasks to end (polling, so that a stop signal is passed on at
// once); each new signal goes to every run. Returns its index in `running` and exit status.
std::pair<size_t, int> wait_any(std::vector<StartedTask>& running, int& forwarded) {
  for (;;) {
    while (forwarded < g_stop_signals) {
      ++forwarded;
      for (const auto& t : running) ::kill(t.pid, SIGTERM);
    }
    for (size_t i = 0; i < running.size(); ++i) {
      int status = 0;
      if (::waitpid(running[i].pid, &status, WNOHANG) == running[i].pid) {
        return {i, exit_status(status)};
      }
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

std::string percent(double fraction) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << 100.0 * fraction << "%";
  return out.str();
}

}  // namespace

std::string task_label(const SweepPlan& plan, const SweepTask& task) {
  return "[" + std::to_string(task.index + 1) + "/" + std::to_string(plan.tasks.size()) + "] " +
         task.name + " seed " + std::to_string(task.seed);
}

int exit_code_of(const TaskResult& result) {
  switch (result.outcome) {
    case TaskOutcome::kDone:
    case TaskOutcome::kAlreadyComplete:
      return 0;
    case TaskOutcome::kSkipped:
      return int(ExitCode::kBusy);
    default:
      return result.exit_code;
  }
}

std::string describe(const TaskResult& r) {
  std::ostringstream out;
  switch (r.outcome) {
    case TaskOutcome::kDone:
      out << "done in " << int64_t(r.seconds + 0.5) << " s" << (r.resumed ? " (resumed)" : "")
          << ": test accuracy " << (r.test_accuracy ? percent(*r.test_accuracy) : "?") << " ("
          << r.run_dir << ")";
      break;
    case TaskOutcome::kAlreadyComplete:
      out << "already complete (" << r.run_dir << ")";
      break;
    case TaskOutcome::kSkipped:
      out << "skipped: " << r.message;
      break;
    case TaskOutcome::kInterrupted:
      out << "interrupted: " << (r.message.empty() ? "stopped by a signal" : r.message);
      break;
    case TaskOutcome::kFailed:
      out << "FAILED (exit " << r.exit_code << "): " << r.message;
      if (r.exit_code == int(ExitCode::kWeights)) {
        out << "\n        weights missing? fetch them with: "
            << script_path("download_vgg16_weights.sh");
      }
      break;
  }
  return out.str();
}

TaskResult run_sweep_task(const SweepPlan& plan, const SweepOptions& options, int64_t index,
                          const SweepRunOptions& run) {
  if (index < 0 || index >= int64_t(plan.tasks.size())) {
    throw ConfigError("--task " + std::to_string(index) + ": the plan has tasks 0 to " +
                      std::to_string(int64_t(plan.tasks.size()) - 1));
  }
  RunSetup setup = make_setup(plan, options, run);
  setup.own_process_group = false;
  StopSignals signals;
  g_stop_signals = 0;
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
  StopSignals signals;
  g_stop_signals = 0;
  int forwarded = 0;
  std::vector<StartedTask> running;
  size_t next = 0;
  while (true) {
    while (g_stop_signals == 0 && next < plan.tasks.size() && int64_t(running.size()) < run.jobs) {
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
  if (g_stop_signals > 0 && !report.interrupted() && next < plan.tasks.size()) {
    report.results[next].outcome = TaskOutcome::kInterrupted;  // none had started
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return report;
}

void report_sweep(const SweepPlan& plan, const SweepRunOptions& run, std::ostream& out) {
  const fs::path dir(plan.output_dir);
  out << "Comparison (" << plan.output_dir << "):" << std::endl;
  out << comparison_text({plan.output_dir}, "text") << std::flush;
  write_file_atomic((dir / "comparison.md").string(),
                    comparison_text({plan.output_dir}, "markdown"));
  write_file_atomic((dir / "comparison.csv").string(), comparison_text({plan.output_dir}, "csv"));
  std::string python = run.plot_python;
  if (python.empty()) {
    const char* env = std::getenv("PLOT_PYTHON");
    python = env && *env ? env : "/usr/bin/python3";
  }
  std::error_code ec;
  const bool usable =
      ::access(python.c_str(), X_OK) == 0 &&
      wait_for(spawn({python, "-c", "import matplotlib, numpy"}, "/dev/null", true)) == 0;
  if (!usable) {
    out << "Plots skipped: needs Python 3 with matplotlib (Debian: apt-get install "
           "python3-matplotlib; or set PLOT_PYTHON)"
        << std::endl;
  } else {
    const std::string log = (dir / "logs" / "plots.log").string();
    const std::string binary = run.binary.empty() ? this_binary() : run.binary;
    const int code = wait_for(spawn({python, script_path("plot_runs.py"), plan.output_dir, "--out",
                                     (dir / "plots").string(), "--cifar-exp", binary},
                                    log, false));
    if (code == 0) {
      std::vector<std::string> names;
      for (const auto& entry : fs::directory_iterator(dir / "plots", ec)) {
        names.push_back(entry.path().filename().string());
      }
      std::sort(names.begin(), names.end());
      std::string files;
      for (const auto& name : names) files += (files.empty() ? "" : " ") + name;
      out << "Plots: " << (dir / "plots").string() << "/ (" << files << ")" << std::endl;
    } else {
      out << "Plots failed: see " << log << std::endl;
    }
  }
  ReportOptions report;
  report.paths = {plan.output_dir};
  write_file_atomic((dir / "report.html").string(), report_html(report));
  out << "Table: " << (dir / "comparison.md").string()
      << "; the page to share: " << (dir / "report.html").string() << std::endl;
}

}  // namespace cifar_exp
