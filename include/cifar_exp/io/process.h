// This process and its children: Ctrl-C and SIGTERM (one handler for a single run and for a
// sweep, told apart by what a signal does), starting a program in a child process with its
// output into a log, and waiting for it. A sweep runs each of its runs this way; a run stops on
// the signal it gets passed.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <csignal>
#include <optional>
#include <string>
#include <vector>

namespace cifar_exp {

// A run (train, resume): from now on the first Ctrl-C or SIGTERM asks training to stop after the
// current batch (stop_requested() turns true), a second one exits at once with
// ExitCode::kInterrupted. Only lock-free atomics are touched in the handler.
void install_run_stop_handlers();
// Set by the first stop signal; fit() polls it (FitOptions::stop_requested).
const std::atomic<bool>* stop_requested();

// A sweep: while this lives, Ctrl-C and SIGTERM are only counted (stop_signals(), from 0), for
// the sweep to pass on to its runs; the handlers before it come back when it ends.
class CountedStopSignals {
 public:
  CountedStopSignals();
  ~CountedStopSignals();
  CountedStopSignals(const CountedStopSignals&) = delete;
  CountedStopSignals& operator=(const CountedStopSignals&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};
// The stop signals received since the CountedStopSignals began.
int stop_signals();

// This program's file (/proc/self/exe), to start it again in a child process.
std::string this_binary();

// Starts `argv` (argv[0]: the program's path) with stdout and stderr into `log` (appended to or
// truncated), stdin from /dev/null and `env` ("NAME=VALUE") added to this environment. With
// `own_group` the child is in a process group of its own, so that a Ctrl-C reaches only this
// process, which passes it on once (a second signal would stop a run before its checkpoint). It
// gets SIGTERM should this process die. OutputError when the log or the process cannot be made.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log, bool append,
            const std::vector<std::string>& env = {}, bool own_group = true);

// A child's exit status as a shell reports it: its exit code, or 128 + the signal that ended it.
int exit_status(int status);
// Waits for the child `pid` to end and returns its exit status (1 when it cannot be waited for).
int wait_for(pid_t pid);
// The exit status of the child `pid` when it has ended, without waiting.
std::optional<int> try_wait(pid_t pid);
// Sends SIGTERM to `pid` (a child asked to stop, as a Ctrl-C would).
void terminate(pid_t pid);

}  // namespace cifar_exp
