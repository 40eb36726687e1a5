// Stop signals and child processes (process.h).
#include "cifar_exp/io/process.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "cifar_exp/io/errors.h"

extern char** environ;

namespace fs = std::filesystem;

namespace cifar_exp {
namespace {

// The signals' state, one for the process: a run's stop request, and the count of signals (a
// run's first and second, or a sweep's to pass on).
std::atomic<bool> g_stop_requested{false};
std::atomic<int> g_signals{0};

extern "C" void on_run_stop_signal(int) {
  if (g_signals.fetch_add(1) >= 1) _exit(int(ExitCode::kInterrupted));
  g_stop_requested.store(true);
}

extern "C" void on_counted_stop_signal(int) { g_signals.fetch_add(1); }

void handle_stop_signals(void (*handler)(int), struct sigaction* old_int,
                         struct sigaction* old_term) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, old_int);
  sigaction(SIGTERM, &action, old_term);
}

// The environment of a child: this one's, less the variables `added` sets, then `added`.
std::vector<char*> child_environment(std::vector<std::string>& added) {
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
  return envp;
}

}  // namespace

void install_run_stop_handlers() { handle_stop_signals(on_run_stop_signal, nullptr, nullptr); }

const std::atomic<bool>* stop_requested() { return &g_stop_requested; }

CountedStopSignals::CountedStopSignals() {
  handle_stop_signals(on_counted_stop_signal, &old_int_, &old_term_);
  g_signals = 0;
}

CountedStopSignals::~CountedStopSignals() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
}

int stop_signals() { return g_signals.load(); }

std::string this_binary() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find this program's file (/proc/self/exe)");
  return exe.string();
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& log, bool append,
            const std::vector<std::string>& env, bool own_group) {
  const int out =
      ::open(log.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
  if (out < 0) throw OutputError(log + ": cannot create: " + std::strerror(errno));
  const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> added = env;
  std::vector<char*> envp = child_environment(added);
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

std::optional<int> try_wait(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) == pid) return exit_status(status);
  return std::nullopt;
}

void terminate(pid_t pid) { ::kill(pid, SIGTERM); }

}  // namespace cifar_exp
